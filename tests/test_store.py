"""The store: migrations from a blank database, and the weight-hash cache."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

from weighbridge.store import Store
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
