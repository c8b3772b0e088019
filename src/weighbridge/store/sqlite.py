"""The embedded backend: one SQLite file under the data directory.

WAL mode, so readers (``weighbridge logs``) never block the writer and several gateway workers
on one machine share the file. One connection per process, shared across threads behind a lock;
a write transaction is ``BEGIN IMMEDIATE``, which takes the file's write lock before anything is
read, so it already serialises every writer in every process: a named lock needs nothing more.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from weighbridge.errors import ConfigError
from weighbridge.store.database import Cursor, IntegrityError, Statement


class SQLiteConnection:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        try:
            return self._db.execute(sql, params)
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(str(exc)) from None

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            self._db.executemany(sql, rows)
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(str(exc)) from None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def run(self, statements: Sequence[Statement], lock: str | None = None) -> list[Any]:
        rows: list[Any] = []
        with self.transaction():
            for sql, params in statements:
                rows = self.execute(sql, params).fetchall()
        return rows

    def lock(self, name: str) -> None:
        """Nothing to do: ``BEGIN IMMEDIATE`` holds the whole file's write lock already."""


class SQLiteBackend:
    remote = False

    def __init__(self, path: Path) -> None:
        self.location = str(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, timeout=5.0, check_same_thread=False, isolation_level=None)
            _wal(db)
            db.execute("PRAGMA synchronous=NORMAL")
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the store at {path}: {exc}") from None
        self._connection = SQLiteConnection(db)
        self._db = db
        self._lock = threading.Lock()

    @contextmanager
    def connection(self) -> Iterator[SQLiteConnection]:
        with self._lock:
            yield self._connection

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _wal(db: sqlite3.Connection) -> None:
    """Put the file in WAL mode, which then stays with the file. Switching needs the file to
    itself, and SQLite answers "locked" at once (its busy timeout does not apply) while another
    process opens the same new file: workers starting together take turns here."""
    deadline = time.monotonic() + 10
    while True:
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
