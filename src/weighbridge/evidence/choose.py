"""``strategy = "auto"``'s choice: which target a task should go to, from what was measured of each.

The question is compare's recommendation asked per task: the cheapest target whose quality
cannot be told apart from the best one's. "Cannot be told apart" is paired, as compare pairs
it: the bootstrap interval of the per-item difference (best minus other, over the items both
were scored on) includes 0. A route may instead state a rule, ``min_quality = 0.95``: any
target at 95% of the best's mean qualifies. Where no target was scored on enough items, the
arena's ratings decide (overlapping intervals count as a tie); where neither says enough,
the decision is that the evidence is too thin, and the route's default target is used.

Cost is the log's mean cost per call of those weights; a target with no priced call is never
taken to be the cheaper. Everything here is pure over its inputs, so ``route simulate`` can
replay the same decisions on held-out evidence.
"""

from __future__ import annotations

from collections.abc import Sequence

from weighbridge.compare.stats import paired_difference
from weighbridge.evidence.rows import Row
from weighbridge.money.amounts import format_cost
from weighbridge.routing.advice import Advice
from weighbridge.routing.routes import Auto


def decide(task: str, rows: Sequence[Row], rule: Auto) -> Advice:
    """Choose among ``rows``, one per allowed target (its evidence on ``task``; a row with no
    evidence at all has ``quality`` and ``arena`` None)."""
    slow = [r for r in rows if _too_slow(r, rule)]
    fast = [r for r in rows if r not in slow]
    scored = [r for r in fast if r.quality is not None and r.quality.n >= rule.min_items]
    voted = [r for r in fast if r.arena is not None and r.arena.votes >= rule.min_items]
    thin = tuple(r.model for r in fast if r not in scored and r not in voted)
    skipped = _skipped(slow, rule)
    if scored:
        return _by_quality(task, scored, rule, thin, skipped)
    if voted:
        return _by_votes(task, voted, thin, skipped)
    answers = sum(r.quality.n for r in fast if r.quality is not None)
    votes = sum(r.arena.votes for r in fast if r.arena is not None)
    return Advice(
        None,
        f"{task}: evidence too thin to choose ({answers} scored answers, {votes} votes; "
        f"{rule.min_items} per target needed){skipped}",
        thin,
    )


def _by_quality(task: str, scored: list[Row], rule: Auto, thin: tuple[str, ...], skipped: str) -> Advice:
    best = max(scored, key=lambda r: (_mean(r), -_cost_key(r)[1]))
    qualify = [best]
    for row in scored:
        if row is best:
            continue
        if rule.min_quality is not None:
            if _mean(row) >= rule.min_quality * _mean(best):
                qualify.append(row)
            continue
        assert row.quality is not None and best.quality is not None
        try:
            _, interval, paired = paired_difference(dict(best.quality.items), dict(row.quality.items))
        except ValueError:  # no item in common: nothing to pair on
            continue
        if paired >= rule.min_items and interval.contains(0.0):
            qualify.append(row)
    chosen = min(qualify, key=lambda r: (*_cost_key(r), -_mean(r)))
    tally = _tally(scored)
    if chosen is best:
        others = len(qualify) - 1
        why = (
            f"{task}: {best.model} {_q(best)} is best and the cheapest of the {others + 1} "
            "that cannot be told apart"
            if others
            else f"{task}: {best.model} {_q(best)} is best, and no cheaper target comes close"
        )
        return Advice(best.model, f"{why}; {tally}{skipped}", thin)
    test = (
        f"at least {rule.min_quality:.0%} of the best"
        if rule.min_quality is not None
        else "indistinguishable"
    )
    return Advice(
        chosen.model,
        f"{task}: {chosen.model} {_q(chosen)} vs best {best.model} {_q(best)}, {test}, "
        f"{_cost_share(chosen, best)}; {tally}{skipped}",
        thin,
    )


def _by_votes(task: str, voted: list[Row], thin: tuple[str, ...], skipped: str) -> Advice:
    """Ratings are relative: a target ties the best when their intervals overlap."""

    def arena(row: Row) -> tuple[float, float, float]:
        assert row.arena is not None
        return row.arena.rating, row.arena.low, row.arena.high

    best = max(voted, key=lambda r: arena(r)[0])
    tied = [r for r in voted if r is best or arena(r)[2] >= arena(best)[1]]
    chosen = min(tied, key=lambda r: (*_cost_key(r), -arena(r)[0]))
    votes = sum(r.arena.votes for r in voted if r.arena is not None)
    rating = f"{arena(chosen)[0]:.0f} [{arena(chosen)[1]:.0f}-{arena(chosen)[2]:.0f}]"
    if chosen is best:
        return Advice(
            best.model, f"{task}: {best.model} rated best {rating} by the arena; {votes} votes{skipped}", thin
        )
    best_rating = f"{arena(best)[0]:.0f} [{arena(best)[1]:.0f}-{arena(best)[2]:.0f}]"
    return Advice(
        chosen.model,
        f"{task}: {chosen.model} rated {rating} vs best {best.model} {best_rating}, overlapping, "
        f"{_cost_share(chosen, best)}; {votes} votes{skipped}",
        thin,
    )


def _too_slow(row: Row, rule: Auto) -> bool:
    latency = row.speed.latency_p50_s if row.speed is not None else None
    return rule.max_latency_s is not None and latency is not None and latency > rule.max_latency_s


def _skipped(slow: list[Row], rule: Auto) -> str:
    if not slow:
        return ""
    names = ", ".join(
        f"{r.model} {r.speed.latency_p50_s:.2f} s" for r in slow if r.speed and r.speed.latency_p50_s
    )
    return f" (over the {rule.max_latency_s:g} s latency ceiling: {names})"


def _mean(row: Row) -> float:
    return row.quality.mean if row.quality is not None else 0.0


def _cost_key(row: Row) -> tuple[bool, float]:
    """Priced targets first, cheapest first."""
    cost = row.speed.cost_per_call_usd if row.speed is not None else None
    return (cost is None, cost or 0.0)


def _q(row: Row) -> str:
    assert row.quality is not None
    return f"{row.quality.mean:.2f} [{row.quality.low:.2f}-{row.quality.high:.2f}]"


def _cost_share(chosen: Row, best: Row) -> str:
    mine = chosen.speed.cost_per_call_usd if chosen.speed is not None else None
    theirs = best.speed.cost_per_call_usd if best.speed is not None else None
    if mine is None or not theirs:
        return f"{format_cost(mine)} vs {format_cost(theirs)} a call"
    return f"{mine / theirs:.0%} of the cost"


def _tally(rows: list[Row]) -> str:
    answers = sum(r.quality.n for r in rows if r.quality is not None)
    votes = sum(r.arena.votes for r in rows if r.arena is not None)
    return f"{answers} answers, {votes} votes"
