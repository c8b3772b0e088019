"""What the store's modules ask of a database, whichever one it is.

Every module above this one writes one SQL text for both backends: ``?`` placeholders, types
and clauses that SQLite and PostgreSQL share, a ``rowid`` that orders rows by insertion (SQLite's
own, a generated column on PostgreSQL). What cannot be shared lives behind this interface, in one
module per backend (:mod:`weighbridge.store.sqlite`, :mod:`weighbridge.store.postgres`): how a
write transaction starts, how a named lock is held, how driver errors read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Backend", "Connection", "Cursor", "IntegrityError", "Statement", "StoreOptions"]


#: One SQL statement and its parameters.
Statement = tuple[str, Sequence[Any]]


class IntegrityError(Exception):
    """A write broke a uniqueness or foreign-key rule (a key name taken, say)."""


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    @property
    def description(self) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """One connection, held by one caller at a time (``Store.connection()``).

    Outside :meth:`transaction` each statement commits on its own, so a single conditional
    ``UPDATE`` is atomic on both backends without anything else."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    def transaction(self) -> AbstractContextManager[None]:
        """A write transaction: whole or not at all."""
        ...

    def run(self, statements: Sequence[Statement], lock: str | None = None) -> list[Any]:
        """Run ``statements`` as one transaction, whole or not at all, in a single round trip
        to a database server (the log's append: one record costs one wait, not five), holding
        the lock ``lock`` (see :meth:`lock`) from its start; the last statement's rows."""
        ...

    def lock(self, name: str) -> None:
        """Hold the lock called ``name`` until the transaction ends: writers of the same thing
        (the audit chain, one key's rate window) wait for each other, on every replica."""
        ...


class Backend(Protocol):
    #: Where the data is, safe to print (no password).
    location: str
    #: Whether each statement is a round trip to a server (worth waiting for off the loop).
    remote: bool

    def connection(self) -> AbstractContextManager[Connection]: ...

    def close(self) -> None: ...


class StoreOptions(BaseModel):
    """The ``[store]`` section of the config::

        [store]
        url = "postgresql://weighbridge@db.internal/weighbridge"  # default: SQLite in the home
        pool_size = 10             # connections per process (PostgreSQL)
        pool_timeout_s = 5         # how long a request waits for a free connection
        reservation_timeout_s = 900  # a budget hold older than this is released

    ``WEIGHBRIDGE_DATABASE_URL`` overrides ``url``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = None
    pool_size: int = Field(default=10, ge=1, le=1000)
    pool_timeout_s: float = Field(default=5.0, gt=0)
    reservation_timeout_s: float = Field(default=900.0, gt=0)
