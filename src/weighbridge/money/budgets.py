"""How fast each virtual key spends its budget, and when it will run out.

*Spent* and *reserved* are the key's own counters (:mod:`weighbridge.store.keys`): the figures
the gateway enforces, so *remaining* (budget - spent - reserved) is what new requests can
still take. The gateway keeps them as float sums, so they can differ from the log's exact
total by float rounding (parts in 10^16), never by a cent.

The *burn rate* comes from the log: the key's spend over the last 7 days, or since the key was
made when it is younger, per day. The window is never taken shorter than an hour, so a key
made a minute ago does not extrapolate one request into a daily rate. At that rate the key
runs out on ``now + remaining / burn``; at zero burn, never.

Only keys carry budgets today: routes have none in their config, so there is nothing to show
for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from weighbridge.money.amounts import ZERO, exact
from weighbridge.store import Store
from weighbridge.store import keys as store_keys

BURN_WINDOW = timedelta(days=7)
SHORTEST_WINDOW = timedelta(hours=1)
_DAY_SECONDS = Decimal(86400)


@dataclass(frozen=True)
class Budget:
    key: str
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


def _when(stamp: str) -> datetime:
    moment = datetime.fromisoformat(stamp)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def budget_status(
    key: str,
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
        key, exact(budget_usd), exact(spent_usd), exact(reserved_usd), window_spend_usd, window_days, None
    )
    if partial.exhausted or partial.burn_usd_per_day == 0:
        return partial
    days_left = partial.remaining_usd / partial.burn_usd_per_day
    runs_out = now + timedelta(seconds=float(days_left * _DAY_SECONDS))
    return Budget(
        key,
        partial.budget_usd,
        partial.spent_usd,
        partial.reserved_usd,
        window_spend_usd,
        window_days,
        runs_out,
    )


def budgets(store: Store, now: datetime | None = None) -> list[Budget]:
    """Every live key that has a budget, with its burn rate and run-out date."""
    now = now or datetime.now(UTC)
    with store.connection() as db:
        live = [k for k in store_keys.list_keys(db) if k.revoked_at is None]
    out = []
    for k in live:
        if k.budget_usd is None:
            continue
        created = _when(k.created_at)
        start = max(created, now - BURN_WINDOW)
        with store.connection() as db:
            costs = db.execute(
                "SELECT cost_usd FROM inferences WHERE key_name = ? AND created_at >= ? AND created_at <= ?",
                (k.name, start.isoformat(), now.isoformat()),
            ).fetchall()
        window_spend = sum((exact(cost) for (cost,) in costs), ZERO)
        out.append(
            budget_status(k.name, k.budget_usd, k.spent_usd, k.reserved_usd, created, window_spend, now)
        )
    return out
