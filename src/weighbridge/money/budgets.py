"""How fast each virtual key and each route spends its budget, and when it will run out.

*Spent* and *reserved* are the budget's own counters (:mod:`weighbridge.store.keys`,
:mod:`weighbridge.store.route_budgets`): the figures the gateway enforces, so *remaining*
(budget - spent - reserved) is what new requests can still take. The gateway keeps them as
float sums, so they can differ from the log's exact total by float rounding (parts in 10^16),
never by a cent.

The *burn rate* comes from the log: the spend through the key (or through the route, by the
gateway, which is what its budget counts) over the last 7 days, or since the key was made or
the route first spent when that is younger, per day. The window is never taken shorter than an
hour, so a budget that began a minute ago does not extrapolate one request into a daily rate.
At that rate the budget runs out on ``now + remaining / burn``; at zero burn, never.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from weighbridge.money.amounts import ZERO, exact
from weighbridge.routing.routes import Route
from weighbridge.store import Store, route_budgets
from weighbridge.store import keys as store_keys
from weighbridge.store.database import Connection

BURN_WINDOW = timedelta(days=7)
SHORTEST_WINDOW = timedelta(hours=1)
_DAY_SECONDS = Decimal(86400)


@dataclass(frozen=True)
class Budget:
    kind: Literal["key", "route"]
    name: str
    budget_usd: Decimal
    spent_usd: Decimal
    reserved_usd: Decimal
    #: Spend in the burn window, from the log, and the window's length in days.
    window_spend_usd: Decimal
    window_days: Decimal
    #: None when the budget is used up already.
    runs_out: datetime | None

    @property
    def remaining_usd(self) -> Decimal:
        return self.budget_usd - self.spent_usd - self.reserved_usd

    @property
    def burn_usd_per_day(self) -> Decimal:
        return self.window_spend_usd / self.window_days

    @property
    def exhausted(self) -> bool:
        return self.remaining_usd <= 0

    def runs_out_text(self) -> str:
        if self.exhausted:
            return "exhausted"
        return "never" if self.runs_out is None else self.runs_out.date().isoformat()


def budget_json(b: Budget) -> dict[str, Any]:
    """A budget as ``spend --json`` and the page give it: amounts as exact decimal strings."""
    return {
        "kind": b.kind,
        "name": b.name,
        "budget_usd": str(b.budget_usd),
        "spent_usd": str(b.spent_usd),
        "reserved_usd": str(b.reserved_usd),
        "remaining_usd": str(b.remaining_usd),
        "window_spend_usd": str(b.window_spend_usd),
        "burn_usd_per_day": str(b.burn_usd_per_day),
        "window_days": float(b.window_days),
        "runs_out": b.runs_out_text(),
    }


def _when(stamp: str) -> datetime:
    moment = datetime.fromisoformat(stamp)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def budget_status(
    kind: Literal["key", "route"],
    name: str,
    budget_usd: float,
    spent_usd: float,
    reserved_usd: float,
    created_at: datetime,
    window_spend_usd: Decimal,
    now: datetime,
) -> Budget:
    """The arithmetic, apart from the store so it can be checked by hand."""
    start = max(created_at, now - BURN_WINDOW)
    seconds = Decimal(max(now - start, SHORTEST_WINDOW).total_seconds())
    window_days = seconds / _DAY_SECONDS
    partial = Budget(
        kind,
        name,
        exact(budget_usd),
        exact(spent_usd),
        exact(reserved_usd),
        window_spend_usd,
        window_days,
        None,
    )
    if partial.exhausted or partial.burn_usd_per_day == 0:
        return partial
    days_left = partial.remaining_usd / partial.burn_usd_per_day
    return replace(partial, runs_out=now + timedelta(seconds=float(days_left * _DAY_SECONDS)))


def budgets(
    store: Store, routes: Mapping[str, Route] | None = None, now: datetime | None = None
) -> list[Budget]:
    """Every live key and every route (of ``routes``, the config's) that has a budget, with its
    burn rate and run-out date."""
    now = now or datetime.now(UTC)
    out = []
    with store.connection() as db:
        live = [k for k in store_keys.list_keys(db) if k.revoked_at is None]
        for k in live:
            if k.budget_usd is None:
                continue
            created = _when(k.created_at)
            spent = _window_spend(db, "key_name = ?", k.name, max(created, now - BURN_WINDOW), now)
            out.append(
                budget_status("key", k.name, k.budget_usd, k.spent_usd, k.reserved_usd, created, spent, now)
            )
        for name, route in (routes or {}).items():
            if route.budget_usd is None:
                continue
            counters = route_budgets.find(db, name)
            began = _when(counters.created_at) if counters else now
            spent = _window_spend(
                db, "route = ? AND source = 'gateway'", name, max(began, now - BURN_WINDOW), now
            )
            out.append(
                budget_status(
                    "route",
                    name,
                    route.budget_usd,
                    counters.spent_usd if counters else 0.0,
                    counters.reserved_usd if counters else 0.0,
                    began,
                    spent,
                    now,
                )
            )
    return out


def _window_spend(db: Connection, who: str, name: str, start: datetime, now: datetime) -> Decimal:
    costs = db.execute(
        f"SELECT cost_usd FROM inferences WHERE {who} AND created_at >= ? AND created_at <= ?",
        (name, start.isoformat(), now.isoformat()),
    ).fetchall()
    return sum((exact(cost) for (cost,) in costs), ZERO)
