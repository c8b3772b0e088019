"""The store: every inference, and everything a gateway replica shares with the others (keys,
budgets and their holds, rate windows, page sessions, arena pairs, compare runs).

SQLite in the data directory by default; PostgreSQL when ``[store] url`` or
``WEIGHBRIDGE_DATABASE_URL`` names one, so that several gateway processes, on one machine or
many, keep one log, one audit chain and one set of budgets. The modules beside this one write
their SQL once for both (see :mod:`weighbridge.store.database`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import ParamSpec, TypeVar

from weighbridge.store import audit, ledger
from weighbridge.store.database import Backend, Connection, IntegrityError, Statement, StoreOptions
from weighbridge.store.migrations import migrate

__all__ = ["InferenceRecord", "Store", "StoreOptions"]

P = ParamSpec("P")
T = TypeVar("T")


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
#: How long a refused append makes this process read the head first.
_CONTENDED_S = 1.0
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
        #: Where a database server's commits are waited for (None: on the caller's thread).
        self._writer = (
            ThreadPoolExecutor(1, thread_name_prefix="weighbridge-store") if self.backend.remote else None
        )
        #: The chain's head as this process last left it (None: read it first).
        self._head: audit.Head | None = None
        #: Until then other writers are busy on the chain too: read the head under the lock
        #: straight away, rather than send a message that would be refused first.
        self._contended_until = 0.0
        self._appending = threading.Lock()

    def migrate(self) -> list[str]:
        """Apply the migrations this database lacks; their names."""
        with self.connection() as db:
            return migrate(db)

    async def offload(self, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``work`` (which uses the store) where it belongs: right here for a file, which
        answers in microseconds; on a thread for a database server, so that an event loop keeps
        serving (``/health`` included) while it waits, however slow the server is."""
        if not self.backend.remote:
            return work(*args, **kwargs)
        return await asyncio.to_thread(work, *args, **kwargs)

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
        """A file is written right here; a database server is waited for on the store's
        writer thread, so the loop goes on serving meanwhile and the records that arrive during
        one commit make up the next."""
        batch = self._batches.pop(loop)
        if self._writer is None:
            for committed, error in self._commit(batch):
                _settle(committed, error)
            return

        def commit() -> None:
            for committed, error in self._commit(batch):
                loop.call_soon_threadsafe(_settle, committed, error)

        self._writer.submit(commit)

    def _commit(self, batch: list[_Waiting]) -> list[tuple[asyncio.Future[None], Exception | None]]:
        """Each waiting caller with the error its record met (None: committed)."""
        try:
            self._append([record for record, _ in batch])
        except Exception:
            # Commit them one by one instead, so one bad record fails only its own request.
            outcomes: list[tuple[asyncio.Future[None], Exception | None]] = []
            for record, committed in batch:
                try:
                    self._append([record])
                except Exception as exc:
                    outcomes.append((committed, exc))
                else:
                    outcomes.append((committed, None))
            return outcomes
        return [(committed, None) for _, committed in batch]

    def _append(self, records: list[InferenceRecord]) -> None:
        """One transaction: the records join the chain, and what each cost is charged to its key
        and its route, so a key's spend always equals its records' sum, whatever is killed when.

        Every writer holds the chain's lock while it appends. The head is first taken to be
        the one this process last wrote, so the common case (one writer at a time) reads nothing
        and is one message: one round trip to a server. When another process or replica appended
        since, the database refuses the fork (``audit.append``) and the records go again in a
        transaction that reads the head under the lock, which cannot be refused that way."""
        rows = [{column: getattr(record, column) for column in _COLUMNS} for record in records]
        charged: list[Statement] = []
        for record in records:
            if record.cost_usd:
                charged += ledger.charges(record.key_name, record.route, record.cost_usd)
        with self._appending:
            head, self._head = self._head, None  # unknown until this append is through
            if head is not None and time.monotonic() >= self._contended_until:
                statements, new_head = audit.append(_COLUMNS, rows, head)
                try:
                    with self.connection() as db:
                        db.run(statements + charged, lock=audit.CHAIN_LOCK)
                except IntegrityError:  # another writer moved the head (or a record is refused: below)
                    self._contended_until = time.monotonic() + _CONTENDED_S
                else:
                    self._head = new_head
                    return
            with self.connection() as db, db.transaction():
                db.lock(audit.CHAIN_LOCK)
                statements, new_head = audit.append(_COLUMNS, rows, audit.read_head(db))
                for sql, params in statements + charged:
                    db.execute(sql, params)
            self._head = new_head

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
        """Remember a file's hash (and forget what it hashed to before it changed). An upsert:
        two processes that hashed the same file at once both succeed."""
        with self.connection() as db:
            db.run(
                [
                    (
                        "DELETE FROM weight_hashes WHERE path = ? AND NOT (size = ? AND mtime_ns = ?)",
                        (path, size, mtime_ns),
                    ),
                    (
                        "INSERT INTO weight_hashes (path, size, mtime_ns, sha256) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (path, size, mtime_ns) DO UPDATE SET sha256 = excluded.sha256",
                        (path, size, mtime_ns, sha256),
                    ),
                ]
            )

    def close(self) -> None:
        if self._writer is not None:
            self._writer.shutdown(wait=True)
        self.backend.close()


def _settle(committed: asyncio.Future[None], error: Exception | None) -> None:
    if committed.done():  # a caller that was cancelled meanwhile: its record stays
        return
    if error is None:
        committed.set_result(None)
    else:
        committed.set_exception(error)
