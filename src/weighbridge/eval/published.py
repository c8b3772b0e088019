"""The catalog's published figures beside the measured ones.

A vendor's "87% MMLU" was measured on its own weights, prompts and shots; the measured score is
on this machine's weights and serving. Read side by side, a published figure outside the
measured 95% interval is worth a look: a different quantization, prompt format or setting, or a
figure that does not hold.
"""

from __future__ import annotations

from dataclasses import dataclass

from weighbridge.catalog.schema import Benchmark
from weighbridge.config import Settings
from weighbridge.eval.scores import Score


@dataclass(frozen=True)
class Published:
    figure: Benchmark
    #: The published figure as a fraction, comparable with a measured mean.
    fraction: float

    def disagrees(self, measured: Score) -> bool:
        """Whether the published figure lies outside the measured 95% interval."""
        low, high = measured.interval
        return not low <= self.fraction <= high

    def describe(self) -> str:
        notes = f", {self.figure.notes}" if self.figure.notes else ""
        return (
            f"{self.figure.name} {self.figure.score:g}{self.figure.unit or ''}{notes} ({self.figure.source})"
        )


def published(settings: Settings, model: str, task: str) -> list[Published]:
    """The catalog's figures for ``model`` that the eval task ``task`` measures."""
    entry = settings.catalog.models.get(model)
    if entry is None:
        return []
    return [
        Published(figure, figure.score / 100 if figure.unit == "%" else figure.score)
        for figure in entry.benchmarks
        if figure.task == task
    ]
