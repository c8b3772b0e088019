"""The store: migrations from a blank database, the weight-hash cache, and group commits."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from weighbridge.store import InferenceRecord, Store
from weighbridge.store.database import IntegrityError
from weighbridge.store.migrations import MIGRATIONS
from weighbridge.weights import weight_sha256


def test_blank_database_gets_final_schema(tmp_path: Path) -> None:
    store = Store(tmp_path / "wb.db")
    store.close()
    db = sqlite3.connect(tmp_path / "wb.db")
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"_migrations", "inferences", "weight_hashes", "audit_head"} <= tables
    applied = [r[0] for r in db.execute("SELECT name FROM _migrations ORDER BY rowid")]
    assert applied == [m.__name__ for m in MIGRATIONS]
    columns = {r[1] for r in db.execute("PRAGMA table_info(inferences)")}
    assert {
        "model",
        "weight_sha256",
        "prompt_tokens",
        "completion_tokens",
        "latency_ms",
        "ttft_ms",
        "cost_usd",
        "status",
        "error",
        "upstream_model",
        "prev_hash",
        "hash",
        "key_name",
        "route",
    } <= columns
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reopening_applies_nothing_twice(tmp_path: Path) -> None:
    Store(tmp_path / "wb.db").close()
    Store(tmp_path / "wb.db").close()
    db = sqlite3.connect(tmp_path / "wb.db")
    assert db.execute("SELECT count(*) FROM _migrations").fetchone()[0] == len(MIGRATIONS)


def test_weight_hash_is_cached_until_the_file_changes(tmp_path: Path) -> None:
    store = Store(tmp_path / "wb.db")
    weights = tmp_path / "w.gguf"
    weights.write_bytes(b"GGUF one")
    first = weight_sha256(store, weights)
    assert first == hashlib.sha256(b"GGUF one").hexdigest()

    stat = weights.stat()
    weights.write_bytes(b"GGUF two")  # same size; restore mtime: the cache answers
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert weight_sha256(store, weights) == first

    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert weight_sha256(store, weights) == hashlib.sha256(b"GGUF two").hexdigest()


def _record(n: int, *, record_id: str | None = None) -> InferenceRecord:
    return InferenceRecord(
        id=record_id or f"wb-{n:04d}",
        created_at=f"2026-01-01T00:00:{n % 60:02d}+00:00",
        source="test",
        model="m",
        provider="p",
        status="ok",
        retention="full",
        request=f"prompt {n}",
    )


def test_concurrent_arecords_share_one_commit_and_keep_the_chain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "wb.db")
    commits: list[int] = []
    append = store._append

    def counted(records: list[InferenceRecord]) -> None:
        commits.append(len(records))
        append(records)

    monkeypatch.setattr(store, "_append", counted)
    seen_by_others: list[bool] = []

    async def one(n: int) -> None:
        await store.arecord(_record(n))
        # Resumed only once committed: another connection sees the record already.
        with sqlite3.connect(tmp_path / "wb.db") as other:
            seen = other.execute("SELECT 1 FROM inferences WHERE id = ?", (f"wb-{n:04d}",)).fetchone()
        seen_by_others.append(seen is not None)

    async def main() -> None:
        await asyncio.gather(*(one(n) for n in range(20)))

    asyncio.run(main())
    assert commits == [20]
    assert seen_by_others == [True] * 20
    assert [r.id for r in store.export()] == [f"wb-{n:04d}" for n in range(20)]
    assert store.verify().ok
    store.close()


def test_a_bad_record_fails_only_its_own_caller(tmp_path: Path) -> None:
    store = Store(tmp_path / "wb.db")
    store.record(_record(0))

    async def main() -> list[object]:
        duplicate = _record(99, record_id="wb-0000")  # the primary key is taken
        calls = [store.arecord(_record(1)), store.arecord(duplicate), store.arecord(_record(2))]
        return await asyncio.gather(*calls, return_exceptions=True)

    first, second, third = asyncio.run(main())
    assert first is None and third is None
    assert isinstance(second, IntegrityError)
    assert [r.id for r in store.export()] == ["wb-0000", "wb-0001", "wb-0002"]
    assert store.verify().ok
    store.close()
