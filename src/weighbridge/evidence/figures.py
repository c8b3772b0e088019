"""A row's figures as ``weighbridge evidence`` prints them, for every view of the table.

The page is sent these strings with the numbers (:mod:`weighbridge.evidence.page`) rather than
rounding the numbers itself: JavaScript rounds a tie such as ``0.125`` up where Python rounds it
to even, and money is never rounded by the page at all (:mod:`weighbridge.money.amounts`).
"""

from __future__ import annotations

from weighbridge.evidence.rows import Row
from weighbridge.money.amounts import format_cost, seconds

#: The hex digits of a weights hash that are shown: enough to tell weights apart.
HASH_DIGITS = 12


def shown(row: Row) -> dict[str, str]:
    """Each column of the command's table, as text; ``-`` where there is no such evidence."""
    q, a, s = row.quality, row.arena, row.speed
    return {
        "weights": short_weights(row.weights),
        "stale": "" if row.stale is None else f"(stale: {row.stale})",
        "quality": "no evidence yet" if q is None else f"{q.mean:.2f} [{q.low:.2f}, {q.high:.2f}]",
        "n": "-" if q is None else str(q.n),
        "source": "-" if q is None else q.source,
        "arena": "-" if a is None else f"{a.rating:.0f} [{a.low:.0f}, {a.high:.0f}] {a.win_rate:.0%} won",
        "votes": "-" if a is None else str(a.votes),
        "latency_p50_s": seconds(None if s is None else s.latency_p50_s),
        "cost_per_call_usd": format_cost(None if s is None else s.cost_per_call_usd),
    }


def short_weights(weights: str | None) -> str:
    """A hash cut to :data:`HASH_DIGITS`; a snapshot id as it is."""
    name = weights or "unknown"
    return name[: len("sha256:") + HASH_DIGITS] if name.startswith("sha256:") else name


def none_yet(task: str | None) -> str:
    """What an empty table says: how evidence is made."""
    where = f" for task '{task}'" if task else ""
    return (
        f"no evidence yet{where}: `weighbridge compare` and `weighbridge eval` make some, "
        "and so do votes on the arena page (`weighbridge ui`)"
    )
