"""A route's budget counters: its row in ``route_budgets``, made on its first budgeted request,
and read back for ``spend`` and the page. Reserving and settling are the ledger's
(:data:`weighbridge.store.ledger.ROUTES`), as for keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from weighbridge.store.database import Connection
from weighbridge.store.ledger import ROUTES


@dataclass(frozen=True)
class RouteSpend:
    route: str
    spent_usd: float
    reserved_usd: float
    created_at: str


def open_row(db: Connection, route: str) -> None:
    """The route's counters, at zero if it has none yet."""
    db.execute(
        "INSERT INTO route_budgets (route, created_at) VALUES (?, ?) ON CONFLICT (route) DO NOTHING",
        (route, datetime.now(UTC).isoformat()),
    )


def find(db: Connection, route: str) -> RouteSpend | None:
    row = db.execute(
        f"SELECT route, spent_usd, {ROUTES.held}, created_at FROM route_budgets WHERE route = ?", (route,)
    ).fetchone()
    return RouteSpend(*row) if row else None
