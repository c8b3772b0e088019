"""A task's scores as lm-evaluation-harness aggregates them: the mean over items (so a group's
weight is its size, as lm-eval's ``mmlu`` group weighs its subjects), per group and overall,
with the standard error lm-eval reports and the 95% interval it gives."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Score:
    mean: float
    stderr: float
    n: int

    @property
    def interval(self) -> tuple[float, float]:
        """The 95% interval, clipped to [0, 1]."""
        return max(0.0, self.mean - 1.96 * self.stderr), min(1.0, self.mean + 1.96 * self.stderr)


def by_group(values: Iterable[tuple[str, float]]) -> dict[str, Score]:
    """``(group, value)`` pairs as a score per group, and over all of them under ``""``."""
    groups: dict[str, list[float]] = {"": []}
    for group, value in values:
        groups[""].append(value)
        if group:
            groups.setdefault(group, []).append(value)
    return {group: mean_score(found) for group, found in groups.items()}


def mean_score(values: list[float]) -> Score:
    """lm-eval's ``mean`` with its ``mean_stderr`` (sample standard deviation over sqrt(n))."""
    n = len(values)
    mean = sum(values) / n if n else 0.0
    variance = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return Score(mean, math.sqrt(variance / n) if n else 0.0, n)
