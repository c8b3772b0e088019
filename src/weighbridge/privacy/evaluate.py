"""Scoring a guard against labelled examples: precision, recall and F1 per kind.

Span-level and strict: a detected span is a true positive when an unmatched labelled span of
the same example has the same kind and the same text. Positions are not compared, so a label
needs only the text; a value that occurs twice is labelled twice. Shared by the benchmark
and the tests, and usable on your own labelled set.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from weighbridge.privacy.guard import Guard


@dataclass
class Score:
    """Counts for one kind."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    misses: list[str] = field(default_factory=list)  # "fn: text" / "fp: text", for debugging

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def score(guard: Guard, examples: Iterable[tuple[str, list[tuple[str, str]]]]) -> dict[str, Score]:
    """Scores by kind over ``(text, [(kind, span_text), ...])`` examples."""
    scores: dict[str, Score] = {}
    for text, labels in examples:
        wanted = Counter(labels)
        for span in guard.detect(text):
            s = scores.setdefault(span.kind, Score())
            if wanted[(span.kind, span.text)] > 0:
                wanted[(span.kind, span.text)] -= 1
                s.tp += 1
            else:
                s.fp += 1
                s.misses.append(f"fp: {span.text!r} in {text!r}")
        for (kind, value), n in wanted.items():
            s = scores.setdefault(kind, Score())
            s.fn += n
            s.misses.extend([f"fn: {value!r} in {text!r}"] * n)
    return scores
