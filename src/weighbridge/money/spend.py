"""Spend from the log: totals by model, key, route, provider or day, exact to the cent.

What counts: every record in the log, read once.

* ``ok`` and ``incomplete`` requests count with their cost: both were paid for (a stream
  cut short was still generated, and a closed provider bills what it sent).
* ``error`` requests count as requests; the log gives them no cost, so they add $0.
* A request to a model the catalog has no price for (``cost_usd`` missing on an answered
  request) adds $0 to the total and is counted as *unpriced*, so the gap is visible instead of
  hidden. A local model is never unpriced: it is charged its wall time at the self-hosting
  rate (:mod:`weighbridge.costs`), so an open model's cost is never shown as zero.

These are the figures the gateway's ``weighbridge_cost_usd`` counter adds up (both read
``cost_usd`` of each logged record, a missing one as 0), summed exactly instead of in floats.
Costs are the prices in force when each call was made: a later price change does not rewrite
history.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any, Literal

from weighbridge.call import IMAGE_RECORD, pictures_in
from weighbridge.money.amounts import ZERO, exact
from weighbridge.money.window import Window, utc_day
from weighbridge.store import Store

GroupBy = Literal["model", "key", "route", "provider", "day"]
GROUPS: tuple[GroupBy, ...] = ("model", "key", "route", "provider", "day")
#: How a record without a key (a library or CLI call) or without a route is grouped.
NONE_LABEL = "-"
_PAID = ("ok", "incomplete")


@dataclass(frozen=True)
class Row:
    """One logged request, as much of it as money needs."""

    created_at: str
    model: str
    provider: str
    key_name: str | None
    route: str | None
    status: str
    source: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    #: The pictures an image call made; 0 for any other call.
    images: int = 0

    def group(self, by: GroupBy) -> str:
        if by == "day":
            return utc_day(self.created_at)
        value = {"model": self.model, "key": self.key_name, "route": self.route, "provider": self.provider}
        return value[by] or NONE_LABEL


@dataclass
class Line:
    """The totals of one group (or of everything)."""

    group: str
    requests: int = 0
    ok: int = 0
    incomplete: int = 0
    errors: int = 0
    unpriced: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    images: int = 0
    cost_usd: Decimal = field(default=ZERO)

    def add(self, row: Row) -> None:
        self.requests += 1
        if row.status == "ok":
            self.ok += 1
        elif row.status == "incomplete":
            self.incomplete += 1
        else:
            self.errors += 1
        if row.status in _PAID and row.cost_usd is None:
            self.unpriced += 1
        self.prompt_tokens += row.prompt_tokens
        self.completion_tokens += row.completion_tokens
        self.images += row.images
        self.cost_usd += exact(row.cost_usd)

    @property
    def input_share(self) -> float | None:
        """Prompt tokens as a share of all tokens; None when nothing was counted."""
        total = self.prompt_tokens + self.completion_tokens
        return self.prompt_tokens / total if total else None


@dataclass(frozen=True)
class Spend:
    by: GroupBy
    window: Window
    lines: list[Line]
    total: Line


def rows(store: Store, window: Window | None = None) -> Iterator[Row]:
    """The logged requests in ``window``, oldest first."""
    where, args = (window or Window()).where()
    with store.connection() as db:
        fetched = db.execute(
            "SELECT created_at, model, provider, key_name, route, status, source, "
            "COALESCE(prompt_tokens, 0), COALESCE(completion_tokens, 0), cost_usd, "
            # only an image call's answer is read: the others' texts can be long
            f"CASE WHEN response LIKE ? THEN response END FROM inferences WHERE {where} "
            "ORDER BY created_at, rowid",
            [IMAGE_RECORD + "%", *args],
        ).fetchall()
    for created_at, model, provider, key_name, route, status, source, into, out, usd, response in fetched:
        yield Row(
            created_at,
            model,
            provider,
            key_name,
            route,
            status,
            source,
            into,
            out,
            usd,
            pictures_in(response),
        )


def totals(records: Iterable[Row], by: GroupBy, window: Window | None = None) -> Spend:
    """Group and add up; groups in order of cost, highest first (days in date order)."""
    lines: dict[str, Line] = {}
    total = Line("total")
    for row in records:
        key = row.group(by)
        lines.setdefault(key, Line(key)).add(row)
        total.add(row)
    ordered = sorted(lines.values(), key=lambda line: line.group)
    if by != "day":
        ordered.sort(key=lambda line: line.cost_usd, reverse=True)
    return Spend(by, window or Window(), ordered, total)


def spend(store: Store, by: GroupBy = "model", window: Window | None = None) -> Spend:
    """The spend report for ``window``, grouped ``by``."""
    return totals(rows(store, window), by, window)


def input_share(store: Store, *, exclude_source: str | None = None) -> float | None:
    """Prompt tokens as a share of all tokens in the log, the traffic mix the crossover
    assumes by default; ``exclude_source`` leaves out records such as the calculator's own
    measurement runs, which are not the user's traffic."""
    mixed = Line("mix")
    for row in rows(store):
        if row.source != exclude_source:
            mixed.add(row)
    return mixed.input_share


def to_json(report: Spend) -> dict[str, Any]:
    """``spend --json``'s report (the page serves the same): amounts as exact decimal strings."""
    return {
        "by": report.by,
        "since": report.window.since.isoformat() if report.window.since else None,
        "until": report.window.until.isoformat() if report.window.until else None,
        "groups": [line_json(line) for line in report.lines],
        "total": line_json(report.total),
    }


def line_json(line: Line) -> dict[str, Any]:
    return {**asdict(line), "cost_usd": str(line.cost_usd)}
