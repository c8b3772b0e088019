"""The SQLite store: every inference, and the cache of weight-file hashes.

One file under the data directory, in WAL mode so readers (``weighbridge logs``) never block
the writer. A connection is shared across threads behind a lock; writes are small.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path

from weighbridge.errors import ConfigError
from weighbridge.store import audit
from weighbridge.store.migrations import migrate

__all__ = ["InferenceRecord", "Store"]


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
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.execute("PRAGMA synchronous=NORMAL")
            migrate(self._db)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the store at {path}: {exc}") from None
        self._lock = threading.Lock()
        #: Records waiting for their group commit, per event loop (see :meth:`arecord`).
        self._batches: dict[asyncio.AbstractEventLoop, list[_Waiting]] = {}

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """The connection, held for this thread alone (for the modules beside this one)."""
        with self._lock:
            yield self._db

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
        """BEGIN IMMEDIATE takes the write lock before the chain's head is read, so writers
        (threads or processes) never fork the chain."""
        rows = [{column: getattr(record, column) for column in _COLUMNS} for record in records]
        with self.connection() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                audit.append(db, _COLUMNS, rows)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def verify(self) -> audit.Verdict:
        with self.connection() as db:
            return audit.verify(db)

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
        with self.connection() as db:
            db.execute("DELETE FROM weight_hashes WHERE path = ?", (path,))
            db.execute(
                "INSERT INTO weight_hashes (path, size, mtime_ns, sha256) VALUES (?, ?, ?, ?)",
                (path, size, mtime_ns, sha256),
            )

    def close(self) -> None:
        with self.connection() as db:
            db.close()
