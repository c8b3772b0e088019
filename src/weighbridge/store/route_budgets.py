"""A route's budget counters: the same two atomic steps as a key's (:mod:`weighbridge.store.keys`),
so that N simultaneous requests on one route never pass its budget together. The budget comes
from the route's config at each call, so raising it there takes effect at once."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class RouteSpend:
    route: str
    spent_usd: float
    reserved_usd: float
    created_at: str


def reserve(db: sqlite3.Connection, route: str, budget_usd: float, worst_usd: float) -> bool:
    """Hold ``worst_usd`` of the route's budget; False when that would pass the budget."""
    db.execute(
        "INSERT OR IGNORE INTO route_budgets (route, created_at) VALUES (?, ?)",
        (route, datetime.now(UTC).isoformat()),
    )
    cursor = db.execute(
        "UPDATE route_budgets SET reserved_usd = reserved_usd + ? "
        "WHERE route = ? AND spent_usd + reserved_usd + ? <= ?",
        (worst_usd, route, worst_usd, budget_usd),
    )
    return cursor.rowcount == 1


def settle(db: sqlite3.Connection, route: str, reserved_usd: float, actual_usd: float) -> None:
    """Release a reservation and charge what the request really cost."""
    db.execute(
        "UPDATE route_budgets SET reserved_usd = MAX(reserved_usd - ?, 0), spent_usd = spent_usd + ? "
        "WHERE route = ?",
        (reserved_usd, actual_usd, route),
    )


def find(db: sqlite3.Connection, route: str) -> RouteSpend | None:
    row = db.execute(
        "SELECT route, spent_usd, reserved_usd, created_at FROM route_budgets WHERE route = ?", (route,)
    ).fetchone()
    return RouteSpend(*row) if row else None
