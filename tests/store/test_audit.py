"""The log is a hash chain: any edit, deletion, reordering or truncation is found and named."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.support.cli import invoke
from tests.support.paths import ROOT
from weighbridge.store import InferenceRecord, Store
from weighbridge.store.migrations import MIGRATIONS, migrate
from weighbridge.store.sqlite import SQLiteConnection


def record(i: int) -> InferenceRecord:
    return InferenceRecord(
        id=f"wb-{i:04d}",
        created_at=f"2026-11-25T12:00:{i % 60:02d}+00:00",
        source="test",
        model="smollm2-135m",
        provider="llamacpp",
        status="ok",
        retention="full",
        prompt_tokens=10 + i,
        completion_tokens=5,
        cost_usd=0.000001 * i,
        key_name="team-a",
        request='{"messages":[{"role":"user","content":"hi"}]}',
        response=f"answer {i}",
    )


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "wb.db"
    store = Store(path)
    for i in range(6):
        store.record(record(i))
    store.close()
    return path


def tamper(path: Path, sql: str, *args: object) -> None:
    db = sqlite3.connect(path)
    db.execute(sql, args)
    db.commit()
    db.close()


def verdict(path: Path):  # type: ignore[no-untyped-def]
    store = Store(path)
    try:
        return store.verify()
    finally:
        store.close()


def test_intact_chain_verifies(db_path: Path) -> None:
    result = verdict(db_path)
    assert result.ok and result.checked == 6 and result.head.startswith("sha256:")


def test_edited_record_is_named(db_path: Path) -> None:
    tamper(db_path, "UPDATE inferences SET cost_usd = 0 WHERE id = 'wb-0003'")
    result = verdict(db_path)
    assert not result.ok and result.record_id == "wb-0003" and "edited" in (result.problem or "")


def test_deleted_record_is_found_at_its_successor(db_path: Path) -> None:
    tamper(db_path, "DELETE FROM inferences WHERE id = 'wb-0002'")
    result = verdict(db_path)
    assert not result.ok and result.record_id == "wb-0003" and "deleted" in (result.problem or "")


def test_reordered_records_are_found(db_path: Path) -> None:
    db = sqlite3.connect(db_path)
    rows = {r[0]: r[1] for r in db.execute("SELECT id, rowid FROM inferences")}
    db.execute("UPDATE inferences SET rowid = -1 WHERE id = 'wb-0001'")
    db.execute("UPDATE inferences SET rowid = ? WHERE id = 'wb-0004'", (rows["wb-0001"],))
    db.execute("UPDATE inferences SET rowid = ? WHERE id = 'wb-0001'", (rows["wb-0004"],))
    db.commit()
    db.close()
    result = verdict(db_path)
    assert not result.ok and result.record_id == "wb-0004"


def test_truncated_log_is_found(db_path: Path) -> None:
    tamper(db_path, "DELETE FROM inferences WHERE id IN ('wb-0004', 'wb-0005')")
    result = verdict(db_path)
    assert not result.ok and "2 record(s) cut off" in (result.problem or "")


def test_concurrent_writers_never_fork_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "wb.db"
    Store(path).close()
    other_process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys; from pathlib import Path; from tests.store.test_audit import record;"
                "from weighbridge.store import Store; s = Store(Path(sys.argv[1]));"
                "[s.record(record(1000 + i)) for i in range(40)]; s.close()"
            ),
            str(path),
        ],
        cwd=ROOT,
    )
    store = Store(path)
    threads = [
        threading.Thread(target=lambda k=k: [store.record(record(100 * k + i)) for i in range(20)])
        for k in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert other_process.wait(timeout=60) == 0
    result = store.verify()
    store.close()
    assert result.ok and result.checked == 4 * 20 + 40


def test_records_from_before_the_chain_are_chained_by_the_migration(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = SQLiteConnection(sqlite3.connect(path, isolation_level=None))
    db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for migration in MIGRATIONS[:2]:  # a database as the first release left it
        migration(db)
        db.execute("INSERT INTO _migrations VALUES (?, 'then')", (migration.__name__,))
    db.execute(
        "INSERT INTO inferences (id, created_at, source, model, provider, status, retention) "
        "VALUES ('old-1', '2026-01-01', 'cli', 'm', 'p', 'ok', 'full')"
    )
    assert migrate(db) == [m.__name__ for m in MIGRATIONS[2:]]
    store = Store(path)
    store.record(record(1))
    assert store.verify().ok and store.verify().checked == 2
    store.close()


def test_cli_verify_and_export(db_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEIGHBRIDGE_DATABASE_URL", raising=False)  # the file copied in is the store
    home.mkdir(parents=True, exist_ok=True)
    (home / "weighbridge.db").write_bytes(db_path.read_bytes())
    ok = invoke("audit", "verify")
    assert ok.returncode == 0 and "ok: 6 records" in ok.stdout
    exported = invoke("audit", "export")
    assert len(exported.stdout.splitlines()) == 6 and '"hash": "sha256:' in exported.stdout
    tamper(home / "weighbridge.db", "UPDATE inferences SET response = 'forged' WHERE id = 'wb-0001'")
    broken = invoke("audit", "verify")
    assert broken.returncode == 1 and "wb-0001" in broken.stderr and "Traceback" not in broken.stderr
