"""The store: every inference, and everything a gateway replica shares with the others (keys,
budgets and their holds, rate windows, page sessions, arena pairs, compare runs).

SQLite in the data directory by default; PostgreSQL when ``[store] url`` or
``WEIGHBRIDGE_DATABASE_URL`` names one, so that several gateway processes, on one machine or
many, keep one log, one audit chain and one set of budgets. The modules beside this one write
their SQL once for both (see :mod:`weighbridge.store.database`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path

from weighbridge.store import audit, ledger
from weighbridge.store.database import Backend, Connection, StoreOptions
from weighbridge.store.migrations import migrate

__all__ = ["InferenceRecord", "Store", "StoreOptions"]


@dataclass(frozen=True)
class InferenceRecord:
    id: str
    created_at: str
    source: str
    model: str
    provider: str
    status: str
    retention: str
    upstream_model: str | None = None
    weight_sha256: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    cost_usd: float | None = None
    cost_basis: str | None = None
    finish_reason: str | None = None
    error: str | None = None
    request: str | None = None
    response: str | None = None
    key_name: str | None = None
    route: str | None = None
    route_reason: str | None = None
    #: Set by the store when the record joins the hash chain.
    prev_hash: str | None = None
    hash: str | None = None


_COLUMNS = [f.name for f in fields(InferenceRecord)]
#: A record waiting for its group commit, and the future its caller awaits.
_Waiting = tuple[InferenceRecord, asyncio.Future[None]]


class Store:
    def __init__(
        self, location: Path | str, options: StoreOptions | None = None, *, migrate_now: bool = True
    ) -> None:
        """``location``: a SQLite file, or a ``postgresql://`` URL. Opening a store brings its
        schema up to date unless ``migrate_now`` is False (``weighbridge db migrate`` reports
        what it applies)."""
        self.options = options or StoreOptions()
        self.backend: Backend
        if isinstance(location, str) and location.startswith(("postgresql://", "postgres://")):
            from weighbridge.store.postgres import PostgresBackend

            self.backend = PostgresBackend(location, self.options)
        else:
            from weighbridge.store.sqlite import SQLiteBackend

            self.backend = SQLiteBackend(Path(location))
        if migrate_now:
            self.migrate()
        #: Records waiting for their group commit, per event loop (see :meth:`arecord`).
        self._batches: dict[asyncio.AbstractEventLoop, list[_Waiting]] = {}

    def migrate(self) -> list[str]:
        """Apply the migrations this database lacks; their names."""
        with self.connection() as db:
            return migrate(db)

    @property
    def location(self) -> str:
        return self.backend.location

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A connection, held for this caller alone (for the modules beside this one)."""
        with self.backend.connection() as db:
            yield db

    def record(self, record: InferenceRecord) -> None:
        """Append a record to the chained log; it is committed when this returns."""
        self._append([record])

    async def arecord(self, record: InferenceRecord) -> None:
        """:meth:`record` for code on an event loop: the records that concurrent requests log
        in the same turn of the loop share one transaction (a group commit). Each caller still
        resumes only once its own record is committed, so an answered request survives a
        ``kill -9`` as before; N concurrent requests pay for one commit and one update of the
        chain's head instead of N."""
        loop = asyncio.get_running_loop()
        batch = self._batches.get(loop)
        if batch is None:
            batch = self._batches[loop] = []
            loop.call_soon(self._commit_batch, loop)
        committed = loop.create_future()
        batch.append((record, committed))
        await committed

    def _commit_batch(self, loop: asyncio.AbstractEventLoop) -> None:
        batch = self._batches.pop(loop)
        try:
            self._append([record for record, _ in batch])
        except Exception:
            # Commit them one by one instead, so one bad record fails only its own request.
            for record, committed in batch:
                try:
                    self._append([record])
                except Exception as exc:
                    if not committed.done():
                        committed.set_exception(exc)
                else:
                    if not committed.done():
                        committed.set_result(None)
            return
        for _, committed in batch:
            if not committed.done():  # a caller that was cancelled meanwhile: its record stays
                committed.set_result(None)

    def _append(self, records: list[InferenceRecord]) -> None:
        """One transaction: the records join the chain, and what each cost is charged to its key
        and its route, so a key's spend always equals its records' sum, whatever is killed when.
        The chain's lock is held from reading its head to the commit, so writers in every
        process, on every replica, never fork it."""
        rows = [{column: getattr(record, column) for column in _COLUMNS} for record in records]
        with self.connection() as db, db.transaction():
            db.lock(audit.CHAIN_LOCK)
            audit.append(db, _COLUMNS, rows)
            for record in records:
                if record.cost_usd:
                    ledger.charge(db, record.key_name, record.route, record.cost_usd)

    def verify(self) -> audit.Verdict:
        with self.connection() as db:
            return audit.verify(db, _COLUMNS)

    def export(self) -> Iterator[InferenceRecord]:
        """Every record in write order, for ``audit export``."""
        with self.connection() as db:
            rows = db.execute(f"SELECT {', '.join(_COLUMNS)} FROM inferences ORDER BY rowid").fetchall()
        for row in rows:
            yield InferenceRecord(*row)

    def recent(self, limit: int = 20, model: str | None = None) -> list[InferenceRecord]:
        """The newest records first."""
        where, args = ("WHERE model = ?", [model]) if model else ("", [])
        with self.connection() as db:
            rows = db.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM inferences {where} "
                "ORDER BY created_at DESC, rowid DESC LIMIT ?",
                [*args, limit],
            ).fetchall()
        return [InferenceRecord(*row) for row in rows]

    def cached_hash(self, path: str, size: int, mtime_ns: int) -> str | None:
        with self.connection() as db:
            row = db.execute(
                "SELECT sha256 FROM weight_hashes WHERE path = ? AND size = ? AND mtime_ns = ?",
                (path, size, mtime_ns),
            ).fetchone()
        return row[0] if row else None

    def save_hash(self, path: str, size: int, mtime_ns: int, sha256: str) -> None:
        with self.connection() as db, db.transaction():
            db.execute("DELETE FROM weight_hashes WHERE path = ?", (path,))
            db.execute(
                "INSERT INTO weight_hashes (path, size, mtime_ns, sha256) VALUES (?, ?, ?, ?)",
                (path, size, mtime_ns, sha256),
            )

    def close(self) -> None:
        self.backend.close()
