"""Budgets for whatever carries one (a virtual key, a route), exact on any number of replicas
sharing one database.

- **reserve**: before a request, its worst case is held as a row in ``reservations``, inserted
  only while ``spent + held + worst`` stays within the budget, under the holder's lock, in one
  message to the database: two requests (on any replicas) can never both take the last of it.
- **charge**: each record's cost is added to ``spent_usd`` in the same transaction that writes
  the record to the log (``Store._append``), so spend always equals the log's sum.
- **release**: after the request its hold row is deleted. A replica that died mid-request never
  releases; :func:`release_stale` does it for them once the hold is older than ``[store]
  reservation_timeout_s``, so budgets never leak.

What is held is always the sum of the live rows, never a counter kept beside them, so no
release can be lost or counted twice. A key's budget is a column of its row (NULL: unlimited); a
route's comes from the config at each call, so raising it there takes effect at once.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from weighbridge.store.database import Connection, Statement


@dataclass(frozen=True)
class Ledger:
    """The budgets of one table: ``spent_usd`` on the row whose ``key`` column names the holder."""

    name: str
    table: str
    key: str
    #: The column holding each row's budget; ``None`` when the caller gives it.
    budget_column: str | None = None

    @property
    def held(self) -> str:
        """SQL for what a row of ``table`` holds now, for its readers (``... AS reserved_usd``)."""
        return (
            f"(SELECT COALESCE(SUM(usd), 0) FROM reservations "
            f"WHERE ledger = '{self.name}' AND holder = {self.table}.{self.key})"
        )

    def reserve(
        self, db: Connection, holder: str, worst_usd: float, budget_usd: float | None = None
    ) -> str | None:
        """Hold ``worst_usd`` of the budget; the hold's id, or None when that would pass it."""
        if self.budget_column is not None:
            room = f"({self.budget_column} IS NULL OR spent_usd + {self.held} + ? <= {self.budget_column})"
            limits: tuple[float, ...] = (worst_usd,)
        else:
            assert budget_usd is not None, f"{self.table} budgets are given at each call"
            room, limits = f"spent_usd + {self.held} + ? <= ?", (worst_usd, budget_usd)
        hold = secrets.token_hex(12)
        taken = db.run(
            [
                (
                    "INSERT INTO reservations (id, ledger, holder, usd, taken_at) "
                    f"SELECT ?, ?, ?, ?, ? FROM {self.table} WHERE {self.key} = ? AND {room}",
                    (hold, self.name, holder, worst_usd, time.time(), holder, *limits),
                ),
                ("SELECT count(*) FROM reservations WHERE id = ?", (hold,)),
            ],
            lock=f"weighbridge.budget:{self.name}:{holder}",
        )
        return hold if taken[0][0] else None


KEYS = Ledger("key", "api_keys", "name", budget_column="budget_usd")
ROUTES = Ledger("route", "route_budgets", "route")


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
    """End the holds (a request is over); one a stale sweep took first is already gone."""
    db.run([("DELETE FROM reservations WHERE id = ?", (hold,)) for hold in holds])


def release_stale(db: Connection, older_than_s: float) -> int:
    """Release the holds of requests that never finished (their replica died); how many."""
    return db.execute("DELETE FROM reservations WHERE taken_at < ?", (time.time() - older_than_s,)).rowcount
