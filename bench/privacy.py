"""Privacy guard accuracy: precision, recall and F1 per kind on the labelled set.

    .venv/bin/python bench/privacy.py [--misses] [--data tests/data/privacy/labelled.jsonl]

Span-level: a detected span counts when its kind and text match a labelled span of the same
example (see ``weighbridge.privacy.evaluate``). Also prints detection throughput.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from weighbridge.privacy import Guard
from weighbridge.privacy.evaluate import Score, score

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "privacy" / "labelled.jsonl"


def load(path: Path) -> list[tuple[str, list[tuple[str, str]]]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(r["text"], [(s["kind"], s["text"]) for s in r["spans"]]) for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--misses", action="store_true", help="list every false positive and negative")
    args = parser.parse_args()

    examples = load(args.data)
    guard = Guard()
    scores = score(guard, examples)
    total = Score(
        tp=sum(s.tp for s in scores.values()),
        fp=sum(s.fp for s in scores.values()),
        fn=sum(s.fn for s in scores.values()),
    )
    print(f"{len(examples)} examples, {total.tp + total.fn} labelled spans ({args.data.name})\n")
    print(
        f"{'kind':8} {'labelled':>8} {'tp':>4} {'fp':>4} {'fn':>4} {'precision':>9} {'recall':>7} {'f1':>6}"
    )
    for kind, s in [*sorted(scores.items()), ("all", total)]:
        print(
            f"{kind:8} {s.tp + s.fn:8} {s.tp:4} {s.fp:4} {s.fn:4} "
            f"{s.precision:9.3f} {s.recall:7.3f} {s.f1:6.3f}"
        )
    if args.misses:
        for kind, s in sorted(scores.items()):
            for miss in s.misses:
                print(f"{kind}: {miss}")

    text = "\n".join(t for t, _ in examples)
    rounds = 20
    start = time.perf_counter()
    for _ in range(rounds):
        guard.detect(text)
    elapsed = time.perf_counter() - start
    print(f"\ndetect: {len(text) * rounds / elapsed / 1e6:.2f} MB/s ({len(text)} chars x {rounds})")


if __name__ == "__main__":
    main()
