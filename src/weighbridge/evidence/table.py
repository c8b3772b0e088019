"""The evidence table: every (task, model, weights) with what the runs, the votes and the log say.

Each item counts once per row however many runs asked it: its distinct answers (the newest
scoring of each) are averaged, as compare averages a prompt's samples, and the item is the unit
of the estimate. The interval is computed as the command that made the evidence computes it:
lm-eval's standard error for eval scores alone (:mod:`weighbridge.eval.scores`), compare's
bootstrap over items otherwise (:mod:`weighbridge.compare.stats`), on the values in sorted
order, so that the same evidence gives the same interval whatever order it was read in.

A model's current weights are the newest it was seen answering with, in the log or in a run;
where they have no evidence on a task that older weights have some on, the table says so with
a row of its own rather than lending them the old evidence.
"""

from __future__ import annotations

from collections import defaultdict
from statistics import fmean

from weighbridge.compare.stats import bootstrap_mean
from weighbridge.eval.scores import mean_score
from weighbridge.evidence import arena, log
from weighbridge.evidence.answers import EVAL, Answer, answers
from weighbridge.evidence.rows import Quality, Row
from weighbridge.store import Store

Key = tuple[str, str, str | None]


def table(store: Store, *, task: str | None = None) -> list[Row]:
    """Every row, stale ones included (``Row.current`` tells them apart), by task and then best
    quality first. It reads the whole store: a caller that asks often keeps the result."""
    with store.connection() as db:
        found = answers(db)
        rated = arena.ratings_by_weights(db)
        logged = log.read(db, sorted({a.model for a in found} | {model for _, model, _ in rated}))
    current = _current(found, logged.newest)
    qualities = _qualities(found)
    keys = set(qualities) | set(rated)
    keys |= {(t, m, current[m]) for t, m, _ in keys if m in current}  # new weights, no evidence yet
    rows = [
        Row(
            t,
            m,
            w,
            current=w == current.get(m),
            quality=qualities.get((t, m, w)),
            arena=rated.get((t, m, w)),
            speed=logged.speeds.get((m, w)),
        )
        for t, m, w in keys
        if task is None or t == task
    ]
    return sorted(rows, key=_order)


def _current(found: list[Answer], logged: dict[str, tuple[str, str]]) -> dict[str, str]:
    """Each model's newest weights: from its last logged call or last answer asked in a run."""
    newest = dict(logged)
    for answer in found:
        if answer.fresh and (answer.model not in newest or answer.at > newest[answer.model][0]):
            newest[answer.model] = (answer.at, answer.weights)
    return {model: weights for model, (_, weights) in newest.items()}


def _qualities(found: list[Answer]) -> dict[Key, Quality]:
    # row -> item -> answer -> (when scored, value): the newest scoring of an answer counts
    values: dict[Key, dict[str, dict[str, tuple[str, float]]]] = defaultdict(lambda: defaultdict(dict))
    sources: dict[Key, set[str]] = defaultdict(set)
    for a in found:
        key = (a.task, a.model, a.weights)
        kept = values[key][a.item].get(a.answer)
        if kept is None or a.at >= kept[0]:
            values[key][a.item][a.answer] = (a.at, a.value)
        sources[key].add(a.source)
    return {
        key: _estimate(
            "+".join(sorted(sources[key])),
            {item: fmean(v for _, v in given.values()) for item, given in items.items()},
        )
        for key, items in values.items()
    }


def _estimate(source: str, items: dict[str, float]) -> Quality:
    ordered = sorted(items.values())
    if source == EVAL:
        low, high = mean_score(ordered).interval
    else:
        interval = bootstrap_mean(ordered)
        low, high = interval.low, interval.high
    return Quality(source, fmean(ordered), low, high, items)


def _order(row: Row) -> tuple[str, float, float, str, str]:
    """By task; then best quality, then best rating, rows without either last; then by name."""
    quality = row.quality.mean if row.quality is not None else -1.0
    rating = row.arena.rating if row.arena is not None else float("-inf")
    return (row.task, -quality, -rating, row.model, row.weights or "")
