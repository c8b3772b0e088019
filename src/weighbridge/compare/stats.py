"""Per-model figures of a run, with 95% bootstrap confidence intervals.

Prompts, not answers, are the unit of resampling: samples of one prompt are averaged first
(they are not independent evidence), then prompts are drawn with replacement 2,000 times with
a fixed seed, so the same run always gives the same interval. Costs are the ones the client
logged for each answer (local models at the self-hosting rate), so a cached answer keeps the
price it cost when it was made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from weighbridge.compare.results import Results, cell_score

RESAMPLES = 2000
SEED = 20240601
LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class ModelSummary:
    model: str
    prompts: int
    answers: int
    errors: int
    cached: int
    score: float | None
    score_ci: Interval | None
    pass_rate: float | None
    pass_ci: Interval | None
    check_errors: int
    latency_p50: float | None
    latency_p95: float | None
    ttft_p50: float | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    cost_per_1k: float | None


def bootstrap_mean(values: Sequence[float], *, resamples: int = RESAMPLES, seed: int = SEED) -> Interval:
    """The percentile bootstrap interval of the mean of ``values``."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("no values to resample")
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Interval(float(low), float(high))


def paired_difference(
    a: dict[str, float], b: dict[str, float], *, resamples: int = RESAMPLES, seed: int = SEED
) -> tuple[float, Interval, int]:
    """Mean of (a - b) over the prompts both have, its bootstrap interval, and how many prompts.

    Pairing by prompt removes what the prompts share (a hard prompt is hard for both), so it
    tells models apart on far fewer prompts than comparing two separate intervals would.
    """
    common = sorted(set(a) & set(b))
    if not common:
        raise ValueError("the two models have no scored prompt in common")
    diffs = [a[p] - b[p] for p in common]
    return float(np.mean(diffs)), bootstrap_mean(diffs, resamples=resamples, seed=seed), len(common)


def percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if values else None


def prompt_scores(results: Results, model: str) -> dict[str, float]:
    """Each prompt's score for ``model``: the mean over its samples."""
    return _per_prompt(results, model, pass_not_score=False)


def prompt_passes(results: Results, model: str) -> dict[str, float]:
    return _per_prompt(results, model, pass_not_score=True)


def _per_prompt(results: Results, model: str, *, pass_not_score: bool) -> dict[str, float]:
    values: dict[str, list[float]] = {}
    for cell in results.cells:
        if cell.model != model:
            continue
        score, passed = cell_score(cell, results.case(cell.prompt_id))
        value = (None if passed is None else float(passed)) if pass_not_score else score
        if value is not None:
            values.setdefault(cell.prompt_id, []).append(value)
    return {p: sum(v) / len(v) for p, v in values.items()}


def summarise(results: Results) -> list[ModelSummary]:
    return [_summary(results, model) for model in results.models]


def _summary(results: Results, model: str) -> ModelSummary:
    cells = [c for c in results.cells if c.model == model]
    ok = [c for c in cells if c.ok]
    scores = prompt_scores(results, model)
    passes = prompt_passes(results, model)
    latencies = [c.latency_s for c in ok if c.latency_s is not None]
    ttfts = [c.ttft_s for c in ok if c.ttft_s is not None]
    costs = [c.cost_usd for c in ok if c.cost_usd is not None]
    priced = bool(ok) and len(costs) == len(ok)
    total = sum(c.cost_usd or 0.0 for c in cells) if priced else None
    return ModelSummary(
        model=model,
        prompts=len({c.prompt_id for c in cells}),
        answers=len(cells),
        errors=len(cells) - len(ok),
        cached=sum(c.cached for c in cells),
        score=_mean(scores),
        score_ci=bootstrap_mean(list(scores.values())) if scores else None,
        pass_rate=_mean(passes),
        pass_ci=bootstrap_mean(list(passes.values())) if passes else None,
        check_errors=sum(1 for c in ok for s in c.scores if s.get("error")),
        latency_p50=percentile(latencies, 50),
        latency_p95=percentile(latencies, 95),
        ttft_p50=percentile(ttfts, 50),
        prompt_tokens=sum(c.prompt_tokens or 0 for c in ok),
        completion_tokens=sum(c.completion_tokens or 0 for c in ok),
        cost_usd=total,
        cost_per_1k=sum(costs) / len(costs) * 1000 if priced else None,
    )


def _mean(values: dict[str, float]) -> float | None:
    return sum(values.values()) / len(values) if values else None
