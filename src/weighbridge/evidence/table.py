"""The evidence table: every (task, model, weights) with what the runs, the votes and the log say.

Each item counts once per row however many runs asked it: its distinct answers (the newest
scoring of each) are averaged, as compare averages a prompt's samples, and the item is the unit
of the estimate. The interval is computed as the command that made the evidence computes it:
lm-eval's standard error for eval scores alone (:mod:`weighbridge.eval.scores`), compare's
bootstrap over items otherwise (:mod:`weighbridge.compare.stats`), on the values in sorted
order, so that the same evidence gives the same interval whatever order it was read in.

A model's current weights are the newest it was seen answering with, in the log or in a run,
and its current era the one its latest drift finding started (:mod:`weighbridge.evidence.drift`);
an answer belongs to the era it was asked in, a vote to the one it was cast in. Where the
current weights in the current era have no evidence on a task that older weights or eras have
some on, the table says so with a row of its own rather than lending them the old evidence.
"""

from __future__ import annotations

from collections import defaultdict
from statistics import fmean

from weighbridge.compare.stats import bootstrap_mean
from weighbridge.eval.scores import mean_score
from weighbridge.evidence import arena, log
from weighbridge.evidence.answers import EVAL, Answer, answers
from weighbridge.evidence.drift import Eras
from weighbridge.evidence.rows import WEIGHTS_CHANGED, Key, Quality, Row
from weighbridge.store import Store


def table(store: Store, *, task: str | None = None) -> list[Row]:
    """Every row, stale ones included (``Row.current`` and ``Row.stale`` tell them apart), by
    task and then best quality first. It reads the whole store: a caller that asks often keeps
    the result."""
    with store.connection() as db:
        found = answers(db)
        eras = Eras.read(db)
        rated = arena.ratings_by_weights(db, eras)
        logged = log.read(db, sorted({a.model for a in found} | {model for _, model, _, _ in rated}))
    current = _current(found, logged.newest)
    qualities = _qualities(found, eras)
    keys = set(qualities) | set(rated)
    # new weights or a new era, no evidence yet
    keys |= {
        (t, m, current.get(m), eras.latest(m))
        for t, m, _, _ in keys
        if m in current or eras.latest(m) is not None
    }
    rows = []
    for t, m, w, since in keys:
        if task is not None and t != task:
            continue
        stale = WEIGHTS_CHANGED if w != current.get(m) else eras.ended(m, since)
        rows.append(
            Row(
                t,
                m,
                w,
                current=stale is None,
                quality=qualities.get((t, m, w, since)),
                arena=rated.get((t, m, w, since)),
                speed=logged.speeds.get((m, w)),
                stale=stale,
                since=since,
            )
        )
    return sorted(rows, key=_order)


def _current(found: list[Answer], logged: dict[str, tuple[str, str]]) -> dict[str, str]:
    """Each model's newest weights: from its last logged call or last answer asked in a run."""
    newest = dict(logged)
    for answer in found:
        if answer.fresh and (answer.model not in newest or answer.at > newest[answer.model][0]):
            newest[answer.model] = (answer.at, answer.weights)
    return {model: weights for model, (_, weights) in newest.items()}


def _qualities(found: list[Answer], eras: Eras) -> dict[Key, Quality]:
    # row -> item -> answer -> (when scored, value): the newest scoring of an answer counts
    values: dict[Key, dict[str, dict[str, tuple[str, float]]]] = defaultdict(lambda: defaultdict(dict))
    sources: dict[Key, set[str]] = defaultdict(set)
    for a in found:
        key = (a.task, a.model, a.weights, eras.since(a.model, a.asked))
        kept = values[key][a.item].get(a.answer)
        if kept is None or a.at >= kept[0]:
            values[key][a.item][a.answer] = (a.at, a.value)
        sources[key].add(a.source)
    return {
        key: estimate(
            "+".join(sorted(sources[key])),
            {item: fmean(v for _, v in given.values()) for item, given in items.items()},
        )
        for key, items in values.items()
    }


def estimate(source: str, items: dict[str, float]) -> Quality:
    ordered = sorted(items.values())
    if source == EVAL:
        low, high = mean_score(ordered).interval
    else:
        interval = bootstrap_mean(ordered)
        low, high = interval.low, interval.high
    return Quality(source, fmean(ordered), low, high, items)


def _order(row: Row) -> tuple[str, float, float, str, str, str]:
    """By task; then best quality, then best rating, rows without either last; then by name
    and era."""
    quality = row.quality.mean if row.quality is not None else -1.0
    rating = row.arena.rating if row.arena is not None else float("-inf")
    return (row.task, -quality, -rating, row.model, row.weights or "", row.since or "")
