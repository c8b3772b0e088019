"""Budget counters, reserved and settled in two atomic steps, for whatever carries a budget
(a virtual key, a route).

Before a request, its worst case is reserved, and only while ``spent + reserved + worst``
stays within the budget: one UPDATE, so two simultaneous requests can never both take the
last of it. After it, the reservation is released and what the request really cost is
charged. A key's budget is a column of its row (NULL: unlimited); a route's comes from the
config at each call, so raising it there takes effect at once.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True)
class Ledger:
    """The counters of one table: ``spent_usd`` and ``reserved_usd`` on the row whose ``key``
    column names the holder."""

    table: str
    key: str
    #: The column holding each row's budget; ``None`` when the caller gives it.
    budget_column: str | None = None

    def reserve(
        self, db: sqlite3.Connection, holder: str, worst_usd: float, budget_usd: float | None = None
    ) -> bool:
        """Hold ``worst_usd`` of the budget; False when that would pass it."""
        if self.budget_column is not None:
            room = f"({self.budget_column} IS NULL OR spent_usd + reserved_usd + ? <= {self.budget_column})"
            limits: tuple[float, ...] = (worst_usd,)
        else:
            assert budget_usd is not None, f"{self.table} budgets are given at each call"
            room, limits = "spent_usd + reserved_usd + ? <= ?", (worst_usd, budget_usd)
        cursor = db.execute(
            f"UPDATE {self.table} SET reserved_usd = reserved_usd + ? WHERE {self.key} = ? AND {room}",
            (worst_usd, holder, *limits),
        )
        return cursor.rowcount == 1

    def settle(self, db: sqlite3.Connection, holder: str, reserved_usd: float, actual_usd: float) -> None:
        """Release a reservation and charge what the request really cost."""
        db.execute(
            f"UPDATE {self.table} SET reserved_usd = MAX(reserved_usd - ?, 0), spent_usd = spent_usd + ? "
            f"WHERE {self.key} = ?",
            (reserved_usd, actual_usd, holder),
        )


KEYS = Ledger("api_keys", "name", budget_column="budget_usd")
ROUTES = Ledger("route_budgets", "route")
