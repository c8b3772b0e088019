"""Budget counters for whatever carries a budget (a virtual key, a route), exact on any number
of replicas sharing one database.

Three steps, each one statement or one transaction, never a read followed by a write:

- **reserve**: before a request, its worst case is held, and only while ``spent + reserved +
  worst`` stays within the budget: one conditional UPDATE, so two requests (on any replicas)
  can never both take the last of it. The hold is a row in ``reservations`` too, naming when
  it was taken.
- **charge**: each record's cost is added to ``spent_usd`` in the same transaction that writes
  the record to the log (``Store._append``), so spend always equals the log's sum.
- **release**: after the request, its hold is deleted and taken off ``reserved_usd``. A
  replica that died mid-request never releases; :func:`release_stale` does it for them once
  the hold is older than ``[store] reservation_timeout_s``, so budgets never leak.

A key's budget is a column of its row (NULL: unlimited); a route's comes from the config at
each call, so raising it there takes effect at once.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from weighbridge.store.database import Connection, Statement

#: Below this (a billionth of a dollar) a counter of holds is float rounding left by holds that
#: have all ended: it reads as zero, so it can never creep up and refuse a request.
_DUST = 1e-9


@dataclass(frozen=True)
class Ledger:
    """The counters of one table: ``spent_usd`` and ``reserved_usd`` on the row whose ``key``
    column names the holder."""

    name: str
    table: str
    key: str
    #: The column holding each row's budget; ``None`` when the caller gives it.
    budget_column: str | None = None

    def reserve(
        self, db: Connection, holder: str, worst_usd: float, budget_usd: float | None = None
    ) -> str | None:
        """Hold ``worst_usd`` of the budget; the hold's id, or None when that would pass it."""
        if self.budget_column is not None:
            room = f"({self.budget_column} IS NULL OR spent_usd + reserved_usd + ? <= {self.budget_column})"
            limits: tuple[float, ...] = (worst_usd,)
        else:
            assert budget_usd is not None, f"{self.table} budgets are given at each call"
            room, limits = "spent_usd + reserved_usd + ? <= ?", (worst_usd, budget_usd)
        hold = secrets.token_hex(12)
        with db.transaction():
            cursor = db.execute(
                f"UPDATE {self.table} SET reserved_usd = reserved_usd + ? WHERE {self.key} = ? AND {room}",
                (worst_usd, holder, *limits),
            )
            if cursor.rowcount != 1:
                return None
            db.execute(
                "INSERT INTO reservations (id, ledger, holder, usd, taken_at) VALUES (?, ?, ?, ?, ?)",
                (hold, self.name, holder, worst_usd, time.time()),
            )
        return hold

    def _unreserve(self, db: Connection, holder: str, usd: float) -> None:
        db.execute(
            f"UPDATE {self.table} SET reserved_usd = "
            f"CASE WHEN reserved_usd - ? > {_DUST} THEN reserved_usd - ? ELSE 0 END WHERE {self.key} = ?",
            (usd, usd, holder),
        )


KEYS = Ledger("key", "api_keys", "name", budget_column="budget_usd")
ROUTES = Ledger("route", "route_budgets", "route")
_LEDGERS = {ledger.name: ledger for ledger in (KEYS, ROUTES)}


def charges(key_name: str | None, route: str | None, usd: float) -> list[Statement]:
    """The statements that count what a logged request cost against its key and its route, run
    in the transaction that logs it (a holder without a row, the master key or a route without
    a budget, has nothing to count)."""
    return [
        (f"UPDATE {ledger.table} SET spent_usd = spent_usd + ? WHERE {ledger.key} = ?", (usd, holder))
        for ledger, holder in ((KEYS, key_name), (ROUTES, route))
        if holder is not None
    ]


def release(db: Connection, holds: list[str]) -> None:
    """End the holds (a request is over): each comes off its counter once, even if a stale
    sweep took it first."""
    with db.transaction():
        for hold in holds:
            row = db.execute(
                "DELETE FROM reservations WHERE id = ? RETURNING ledger, holder, usd", (hold,)
            ).fetchone()
            if row is not None:
                _LEDGERS[row[0]]._unreserve(db, row[1], float(row[2]))


def release_stale(db: Connection, older_than_s: float) -> int:
    """Release the holds of requests that never finished (their replica died); how many."""
    with db.transaction():
        rows = db.execute(
            "DELETE FROM reservations WHERE taken_at < ? RETURNING ledger, holder, usd",
            (time.time() - older_than_s,),
        ).fetchall()
        for name, holder, usd in rows:
            _LEDGERS[name]._unreserve(db, holder, float(usd))
    return len(rows)
