"""The evidence table's row: what is known of one model's weights on one task, and its parts.

A row is keyed by (task, model, weights, since). ``weights`` names what answered: ``sha256:<hex>``
for a local file (or checkpoint and adapter), else the snapshot id the service reported.
Evidence about other weights of the same model is another row, so changed weights start with
none. A model can also change under the same weights id (a provider's snapshot moved behind
its name, a safety layer changed), which only ``weighbridge drift`` sees: ``since`` is the drift
finding that starts the evidence's era (:mod:`weighbridge.evidence.drift`), so what was measured
before a finding is another row too, and the model starts again from none. Only the rows of a
model's newest weights in its latest era are ``current``; the others are kept, with why they are
``stale``, because they say what the change cost or gained.

Absolute quality (scores in [0, 1] from compare and eval) and the arena's relative evidence
(ratings from votes between models) are kept apart: a rating depends on who the opponents were,
so averaging it with a score would mean nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

#: A row's key: (task, model, weights, since).
Key = tuple[str, str, str | None, str | None]

#: Why the rows of weights a model no longer answers with are stale.
WEIGHTS_CHANGED = "weights changed"


@dataclass(frozen=True)
class Quality:
    """The mean over items of each item's score, with its 95% interval.

    ``items`` holds each item's value (its answers averaged: samples, and re-asks in later
    runs), keyed by the item, so two rows' evidence on the same items can be paired, which
    tells models apart on far fewer items than their two intervals do. An item key is the hash
    of what was asked and how it was checked (compare) or ``<task>/<item id>`` (eval).
    """

    #: ``compare``, ``eval`` or ``compare+eval``: where the scores came from.
    source: str
    mean: float
    low: float
    high: float
    items: Mapping[str, float]

    @property
    def n(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class Arena:
    """What the arena's votes on this task say: a Bradley-Terry rating with its 95% bootstrap
    interval (:mod:`weighbridge.web.ratings`), the votes it rests on, and the share of them won
    (a tie counts half)."""

    rating: float
    low: float
    high: float
    votes: int
    win_rate: float


@dataclass(frozen=True)
class Speed:
    """What the log measured of these weights on every successful call, whatever the task:
    the median latency and the mean cost of a call (None where no call says)."""

    calls: int
    latency_p50_s: float | None
    cost_per_call_usd: float | None


@dataclass(frozen=True)
class Row:
    """One model's weights on one task: each kind of evidence apart, None where there is none."""

    task: str
    model: str
    #: None only for arena votes whose answers the log does not name the weights of.
    weights: str | None
    #: Whether this is what the model is now: ``stale`` is None.
    current: bool
    #: None: no scored answer of these weights on this task (new weights start so).
    quality: Quality | None
    arena: Arena | None
    #: Per weights, whatever the era: drift changes what a model answers, and the log measures
    #: the calls as they are.
    speed: Speed | None
    #: Why this evidence no longer describes the model, None while it does: ``weights changed``
    #: (the model answers with newer weights), or ``drift found <YYYY-MM-DD>: <first reason>``
    #: (measured before that drift finding).
    stale: str | None = None
    #: When the drift finding that starts this evidence's era was made (the check's time);
    #: None: before any finding.
    since: str | None = None


def weights_of(weight_sha256: str | None, upstream_model: str | None) -> str | None:
    """One name for what answered, from a cell's or a log record's two columns."""
    return f"sha256:{weight_sha256}" if weight_sha256 else upstream_model


def as_json(row: Row) -> dict[str, Any]:
    """The row as ``weighbridge evidence --json`` prints it: every figure, not the items."""
    q = row.quality
    return {
        "task": row.task,
        "model": row.model,
        "weights": row.weights,
        "current": row.current,
        "stale": row.stale,
        "since": row.since,
        "quality": None
        if q is None
        else {"source": q.source, "mean": q.mean, "low": q.low, "high": q.high, "n": q.n},
        "arena": None if row.arena is None else asdict(row.arena),
        "speed": None if row.speed is None else asdict(row.speed),
    }
