"""The inference log as a hash chain: editing, deleting, reordering or truncating records is
detected by :func:`verify`.

Each record's ``hash`` is ``sha256:`` + the SHA-256 of its canonical JSON (sorted keys, no
spaces, UTF-8), every column but ``hash`` itself included, ``prev_hash`` among them: so each
hash covers the whole history before it. ``audit_head`` holds the count and the last hash,
updated in the same transaction as each insert, so cutting records off the end is detected
too. Anyone who can rewrite the whole file can rewrite the whole chain; keeping a copy of the
head hash elsewhere (``weighbridge audit verify`` prints it) closes that gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from weighbridge.hashing import content_hash
from weighbridge.store.database import Connection, Statement

GENESIS = "sha256:" + "0" * 64
#: The lock every writer of the chain holds while it appends.
CHAIN_LOCK = "weighbridge.audit_chain"


def record_hash(values: dict[str, Any]) -> str:
    """The hash of one record, from all its columns except ``hash``."""
    return content_hash({k: v for k, v in values.items() if k != "hash"})


#: The chain's last record: how many records it holds, and the newest one's hash.
Head = tuple[int, str]


def read_head(db: Connection) -> Head:
    row = db.execute("SELECT count, hash FROM audit_head WHERE id = 1").fetchone()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS)


def append(
    table_columns: list[str], records: list[dict[str, Any]], head: Head
) -> tuple[list[Statement], Head]:
    """The statements that insert records after ``head``, in order, and move the head past
    them; and the new head. They are run as one transaction.

    ``head`` may be stale (another writer, on another replica, appended since it was read):
    then the first record's ``prev_hash`` is one that a record already holds, the unique index
    on ``prev_hash`` refuses it, and the transaction fails whole with an ``IntegrityError``. So
    the chain can never fork, and a writer that knows the head writes without reading anything
    first (one round trip to a server)."""
    count, prev = head
    rows = []
    for values in records:
        chained = {**values, "prev_hash": prev}
        chained["hash"] = prev = record_hash({c: chained.get(c) for c in table_columns})
        rows.append([chained.get(c) for c in table_columns])
    insert = (
        f"INSERT INTO inferences ({', '.join(table_columns)}) VALUES ({', '.join('?' * len(table_columns))})"
    )
    statements: list[Statement] = [(insert, row) for row in rows]
    statements.append(("UPDATE audit_head SET count = ?, hash = ? WHERE id = 1", (count + len(rows), prev)))
    return statements, (count + len(rows), prev)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    checked: int
    head: str
    problem: str | None = None
    record_id: str | None = None


def verify(db: Connection, columns: list[str]) -> Verdict:
    """Re-derive every hash in write order; name the first record that no longer matches."""
    cursor = db.execute(f"SELECT {', '.join(columns)} FROM inferences ORDER BY rowid")
    prev = GENESIS
    checked = 0
    for row in cursor:
        values = dict(zip(columns, row, strict=True))
        checked += 1
        if values["prev_hash"] != prev:
            return Verdict(False, checked, prev, "a record before it was deleted or moved", values["id"])
        if record_hash(values) != values["hash"]:
            return Verdict(False, checked, prev, "its content was edited", values["id"])
        prev = values["hash"]
    head = db.execute("SELECT count, hash FROM audit_head WHERE id = 1").fetchone()
    expected_count, expected_hash = head if head else (0, GENESIS)
    if (checked, prev) != (expected_count, expected_hash):
        return Verdict(
            False, checked, prev, f"the log ends early: {expected_count - checked} record(s) cut off the end"
        )
    return Verdict(True, checked, prev)


def chain_existing(db: Connection, columns: list[str]) -> None:
    """Chain records written before the chain existed, in write order (migration 3)."""
    cursor = db.execute(f"SELECT rowid, {', '.join(columns)} FROM inferences ORDER BY rowid")
    prev, count = GENESIS, 0
    for row in cursor.fetchall():
        values = dict(zip(columns, row[1:], strict=True))
        values["prev_hash"] = prev
        values["hash"] = prev = record_hash(values)
        db.execute(
            "UPDATE inferences SET prev_hash = ?, hash = ? WHERE rowid = ?",
            (values["prev_hash"], prev, row[0]),
        )
        count += 1
    db.execute("INSERT INTO audit_head (id, count, hash) VALUES (1, ?, ?)", (count, prev))
