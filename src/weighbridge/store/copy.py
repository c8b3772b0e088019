"""Copy a whole store into another, empty one (``weighbridge db copy``): SQLite to PostgreSQL
when a single gateway becomes several, or back.

Rows go over table by table in write order, so the log keeps its order and every record its
hash: the audit chain verifies on the copy exactly as on the original. The ids the database
numbers itself (arena votes, drift checks, benchmarks) are numbered again, in the same order.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from weighbridge.errors import InvalidRequestError
from weighbridge.store import Store
from weighbridge.store.database import Connection

#: Every table, parents before the tables that refer to them.
TABLES = (
    "inferences", "audit_head", "weight_hashes", "api_keys", "compare_runs", "compare_cells",
    "compare_judgements", "drift_baselines", "drift_checks", "arena_votes", "route_budgets",
    "benchmarks", "reservations", "rate_events", "page_sessions", "arena_pairs",
)  # fmt: skip
#: Tables whose ``id`` the database numbers: the copy numbers them afresh.
_NUMBERED = frozenset({"drift_checks", "arena_votes", "benchmarks"})
_BATCH = 1000


def copy_store(
    source: Store, target: Store, progress: Callable[[str, int], None] | None = None
) -> dict[str, int]:
    """Copy every row of ``source`` into ``target``, which must hold no data yet; rows per table."""
    with target.connection() as db:
        for table in ("inferences", "api_keys", "compare_runs", "arena_votes"):
            if db.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone():
                raise InvalidRequestError(f"the store at {target.location} is not empty ({table} has rows)")
    copied = {}
    with source.connection() as src, target.connection() as dst, dst.transaction():
        dst.execute("DELETE FROM audit_head")  # the empty chain's head, replaced by the source's
        for table in TABLES:
            columns = _columns(src, table)
            rows = iter(src.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY rowid"))
            insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            count = 0
            while batch := list(itertools.islice(rows, _BATCH)):
                dst.executemany(insert, batch)
                count += len(batch)
            copied[table] = count
            if progress is not None:
                progress(table, count)
    return copied


def _columns(db: Connection, table: str) -> list[str]:
    cursor = db.execute(f"SELECT * FROM {table} LIMIT 0")
    names = [d[0] for d in cursor.description]
    return [n for n in names if n != "rowid" and not (n == "id" and table in _NUMBERED)]
