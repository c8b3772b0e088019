"""The recommendation: which model to use, with the numbers that justify it.

Two answers to two questions. Which is the cheapest model whose score cannot be told apart
from the best one's (the paired bootstrap interval of the per-prompt score difference includes
0)? And which gives the most score per dollar? When the prompts are too few for the
intervals to separate anything, it says so instead of pretending to a ranking.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from weighbridge.compare.results import Results
from weighbridge.compare.stats import Interval, ModelSummary, paired_difference, prompt_scores
from weighbridge.money.amounts import format_cost

#: Below this many prompts no interval is narrow enough to rank models.
MIN_PROMPTS = 10
#: A difference interval wider than this (each side) says "more prompts", not "same".
WIDE = 0.10


@dataclass(frozen=True)
class Comparison:
    """The best model against another: mean score difference (best minus other) per prompt."""

    model: str
    difference: float
    interval: Interval
    prompts: int

    @property
    def indistinguishable(self) -> bool:
        return self.interval.contains(0.0)


@dataclass(frozen=True)
class Recommendation:
    best: str | None = None
    cheapest_equivalent: str | None = None
    best_value: str | None = None
    too_few_prompts: bool = False
    comparisons: list[Comparison] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def recommend(results: Results, summaries: list[ModelSummary]) -> Recommendation:
    scored = [s for s in summaries if s.score is not None]
    if not scored:
        if not any(c.checks for c in results.cases):
            why = "no checks: add 'assert' entries or 'reference' answers to score the answers"
        else:
            why = "no answer could be scored"
        return Recommendation(lines=[f"No recommendation: {why}."])
    best = max(
        scored, key=lambda s: (s.score or 0.0, -(s.cost_per_1k if s.cost_per_1k is not None else 1e18))
    )
    lines = [
        f"Best score: {best.model}, {best.score:.2f} (95% CI {_ci(best.score_ci)}) on {best.prompts} prompts."
    ]
    if len(scored) == 1:
        lines.append("Only one model was scored: nothing to compare it with.")
        return Recommendation(best=best.model, lines=lines + _value_line(scored))

    best_scores = prompt_scores(results, best.model)
    comparisons = []
    for other in scored:
        if other is best:
            continue
        diff, interval, n = paired_difference(best_scores, prompt_scores(results, other.model))
        comparisons.append(Comparison(other.model, diff, interval, n))
    tied = [c for c in comparisons if c.indistinguishable]
    fewest = min(c.prompts for c in comparisons)
    too_few = fewest < MIN_PROMPTS or (
        len(tied) == len(comparisons) and max(c.interval.half_width for c in tied) > WIDE
    )

    by_model = {s.model: s for s in scored}
    equivalent = [best] + [by_model[c.model] for c in tied]
    priced = [s for s in equivalent if s.cost_per_1k is not None]
    cheapest = min(priced, key=lambda s: s.cost_per_1k or 0.0) if priced else None
    if cheapest is not None and cheapest is not best:
        comparison = next(c for c in comparisons if c.model == cheapest.model)
        score_share = _share(cheapest.score, best.score)
        cost_share = _share(cheapest.cost_per_1k, best.cost_per_1k)
        lines.append(
            f"Cheapest model statistically indistinguishable from the best: {cheapest.model}, "
            f"{score_share} of the best score at {cost_share} of its cost "
            f"({format_cost(cheapest.cost_per_1k)} vs {format_cost(best.cost_per_1k)} per 1,000 prompts); "
            f"the difference, {comparison.difference:+.2f} (95% CI {_ci(comparison.interval)}), includes 0."
        )
    elif tied:
        names = ", ".join(c.model for c in tied)
        lines.append(
            f"{best.model} is also the cheapest of the models it cannot be told apart from ({names})."
        )
    else:
        lines.append(f"No other model comes statistically close to {best.model}.")
    for c in comparisons:
        if not c.indistinguishable:
            lines.append(
                f"{best.model} scores {c.difference:+.2f} over {c.model} per prompt "
                f"(95% CI {_ci(c.interval)}, {c.prompts} prompts): a real difference."
            )
    lines += _value_line(scored, [c for c in comparisons if not c.indistinguishable])
    if too_few:
        lines.append(
            f"Caution: with {fewest} prompts the intervals are too wide to tell these models apart with "
            "confidence; add prompts before choosing on these numbers."
        )
    return Recommendation(
        best=best.model,
        cheapest_equivalent=cheapest.model if cheapest is not None else None,
        best_value=_best_value(scored),
        too_few_prompts=too_few,
        comparisons=comparisons,
        lines=lines,
    )


def _best_value(scored: list[ModelSummary]) -> str | None:
    priced = [s for s in scored if s.cost_per_1k and s.score is not None]
    if not priced:
        return None
    return max(priced, key=lambda s: (s.score or 0.0) / (s.cost_per_1k or 1.0)).model


def _value_line(scored: list[ModelSummary], worse: Sequence[Comparison] = ()) -> list[str]:
    """The most score per dollar; a model the best one really beats is said to be worse, since
    the cheapest model often wins this ratio with answers nobody wants."""
    name = _best_value(scored)
    if name is None:
        return ["Best score per dollar: unknown (no model has a price)."]
    s = next(s for s in scored if s.model == name)
    assert s.score is not None and s.cost_per_1k is not None
    behind = next((c for c in worse if c.model == name), None)
    caveat = f", though it scores {behind.difference:.2f} below the best" if behind else ""
    return [
        f"Best score per dollar: {s.model}, {s.score:.2f} at {format_cost(s.cost_per_1k)} per 1,000 prompts "
        f"({s.score / s.cost_per_1k:,.1f} points per dollar{caveat})."
    ]


def _ci(interval: Interval | None) -> str:
    return "-" if interval is None else f"{interval.low:.2f} to {interval.high:.2f}"


def _share(part: float | None, whole: float | None) -> str:
    if part is None or not whole:
        return "an unknown share"
    return f"{part / whole:.0%}"
