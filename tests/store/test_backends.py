"""The promises the store makes to several gateway replicas, on both backends: SQLite (processes
on one machine) and a real PostgreSQL server. Each replica is a ``Store`` of its own, with its own
connections, as in separate processes; threads make them write at the same time."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.cli import invoke
from weighbridge.store import InferenceRecord, Store, ledger, rates, route_budgets
from weighbridge.store import keys as store_keys
from weighbridge.store.copy import TABLES
from weighbridge.store.database import StoreOptions

Opener = Callable[[], Store]


@pytest.fixture(params=["sqlite", "postgres"])
def replicas(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens one more replica's store on the same database."""
    location: Path | str = (
        tmp_path / "shared.db" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    )
    opened: list[Store] = []

    def open_replica() -> Store:
        store = Store(location, StoreOptions(pool_size=16))
        opened.append(store)
        return store

    yield open_replica
    for store in opened:
        store.close()


def record(
    n: int, *, key: str | None = None, cost: float | None = None, route: str | None = None, writer: int = 0
) -> InferenceRecord:
    return InferenceRecord(
        id=f"wb-{writer}-{n:05d}",
        created_at=f"2026-12-03T10:00:{n % 60:02d}",
        source="gateway",
        model="gpt-5-mini",
        provider="openai",
        status="ok",
        retention="none",
        cost_usd=cost,
        key_name=key,
        route=route,
        prompt_tokens=3_000_000_000 + n,  # past 32 bits
        latency_ms=0.1 + n,
    )


def test_replicas_starting_together_migrate_once(replicas: Opener) -> None:
    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: replicas(), range(4)))
    with stores[0].connection() as db:
        assert db.execute("SELECT count(*) FROM _migrations").fetchone()[0] == len(
            {m for (m,) in db.execute("SELECT name FROM _migrations")}
        )
    assert stores[0].migrate() == []


def test_one_chain_from_many_writers_on_many_replicas(replicas: Opener) -> None:
    stores = [replicas() for _ in range(3)]

    def write(i: int) -> None:
        store = stores[i % 3]
        for n in range(15):
            store.record(record(n, writer=i))

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(write, range(6)))
    verdict = stores[1].verify()
    assert verdict.ok and verdict.checked == 90
    kept = list(stores[2].export())
    assert kept[0].prompt_tokens is not None and kept[0].prompt_tokens >= 3_000_000_000
    assert {r.latency_ms for r in kept} == {0.1 + n for n in range(15)}  # doubles, not 4-byte floats


def test_budget_holds_exact_across_replicas(replicas: Opener) -> None:
    """Forty requests at once on three replicas against a budget with room for ten worst cases:
    exactly ten are held, whatever their interleaving. What they cost is charged as each is
    logged, every hold ends, and the spend never passes the budget however many come after."""
    stores = [replicas() for _ in range(3)]
    with stores[0].connection() as db:
        store_keys.create(db, "team", budget_usd=1.0)
        route_budgets.open_row(db, "support")

    def reserve(i: int) -> str | None:
        with stores[i % 3].connection() as db:
            return ledger.KEYS.reserve(db, "team", 0.1)

    def finish(i: int, hold: str) -> None:
        stores[i % 3].record(record(i, key="team", cost=0.07, route="support"))
        with stores[i % 3].connection() as db:
            ledger.release(db, [hold])

    def whole(i: int) -> None:
        if (hold := reserve(i)) is not None:
            finish(i, hold)

    with ThreadPoolExecutor(12) as pool:
        holds = list(pool.map(reserve, range(40)))
        assert sum(hold is not None for hold in holds) == 10
        list(pool.map(lambda pair: finish(*pair), [(i, h) for i, h in enumerate(holds) if h is not None]))
        list(pool.map(whole, range(100, 140)))  # then forty more, each reserving, logging, releasing
    with stores[2].connection() as db:
        [key] = store_keys.list_keys(db)
        route = route_budgets.find(db, "support")
        logged = db.execute("SELECT sum(cost_usd) FROM inferences WHERE key_name = 'team'").fetchone()[0]
        assert db.execute("SELECT count(*) FROM reservations").fetchone()[0] == 0
    assert key.reserved_usd == 0 and round(key.spent_usd, 9) == round(float(logged), 9)
    assert 0.7 < key.spent_usd <= 1.0  # more fitted after the first ten, and never past the budget
    assert route is not None and round(route.spent_usd, 9) == round(key.spent_usd, 9)


def test_holds_of_a_replica_that_died_are_released_after_the_timeout(replicas: Opener) -> None:
    died, alive = replicas(), replicas()
    with died.connection() as db:
        store_keys.create(db, "team", budget_usd=0.25)
        assert ledger.KEYS.reserve(db, "team", 0.2) is not None  # and then the replica is killed
    with alive.connection() as db:
        assert ledger.KEYS.reserve(db, "team", 0.2) is None  # the dead hold still counts
        assert ledger.release_stale(db, older_than_s=3600) == 0  # too young to be released
        time.sleep(0.05)
        assert ledger.release_stale(db, older_than_s=0.01) == 1
        assert ledger.KEYS.reserve(db, "team", 0.2) is not None
        [key] = store_keys.list_keys(db)
    assert key.reserved_usd == pytest.approx(0.2)


def test_a_hold_released_twice_comes_off_once(replicas: Opener) -> None:
    store = replicas()
    with store.connection() as db:
        store_keys.create(db, "team", budget_usd=1.0)
        first = ledger.KEYS.reserve(db, "team", 0.3)
        second = ledger.KEYS.reserve(db, "team", 0.2)
        assert first is not None and second is not None
        ledger.release_stale(db, older_than_s=-1.0)  # a sweep takes both...
        ledger.release(db, [first])  # ...and the requests end after it
        [key] = store_keys.list_keys(db)
    assert key.reserved_usd == 0


def test_rate_limit_is_exact_across_replicas(replicas: Opener) -> None:
    stores = [replicas() for _ in range(3)]

    def ask(i: int) -> float | None:
        with stores[i % 3].connection() as db:
            return rates.admit(db, "team", rpm=10)

    with ThreadPoolExecutor(12) as pool:
        waits = list(pool.map(ask, range(30)))
    admitted = [w for w in waits if w is None]
    refused = [w for w in waits if w is not None]
    assert len(admitted) == 10
    assert all(55 < w <= 60 for w in refused)  # until the oldest of the ten leaves the minute


def test_copy_from_sqlite_to_postgres_keeps_the_chain(
    home: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEIGHBRIDGE_DATABASE_URL", raising=False)
    source = Store(home / "weighbridge.db")
    for n in range(25):
        source.record(record(n, key="team", cost=0.01 * n))
    with source.connection() as db:
        store_keys.create(db, "team", budget_usd=5.0, rpm=60)
    head = source.verify().head
    source.close()

    done = invoke("db", "copy", "--to", pg_url)
    assert done.returncode == 0, done.stderr
    assert f"audit chain ok: 25 records, head {head}" in done.stdout
    again = invoke("db", "copy", "--to", pg_url)
    assert again.returncode == 2 and "is not empty" in again.stderr and "Traceback" not in again.stderr

    monkeypatch.setenv("WEIGHBRIDGE_DATABASE_URL", pg_url)
    verified = invoke("audit", "verify")
    assert verified.returncode == 0 and head in verified.stdout
    listed = invoke("keys", "list")
    assert "team" in listed.stdout
    assert invoke("db", "migrate").stdout.strip().endswith("up to date")


def test_copy_knows_every_table(tmp_path: Path) -> None:
    Store(tmp_path / "wb.db").close()
    db = sqlite3.connect(tmp_path / "wb.db")
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables - {"_migrations", "sqlite_sequence"} == set(TABLES)


def test_a_database_that_is_down_is_a_clear_error_and_comes_back(postgres: object, pg_url: str) -> None:
    from tests.support.postgres import PostgresServer
    from weighbridge.errors import StoreUnavailableError

    assert isinstance(postgres, PostgresServer)
    store = Store(pg_url)
    try:
        store.record(record(1))
        postgres.stop("immediate")
        began = time.monotonic()
        with pytest.raises(StoreUnavailableError) as down:
            store.record(record(2))
        assert time.monotonic() - began < 2  # refused at once, not after a pool's full wait
        assert "unavailable" in str(down.value) and "password" not in str(down.value)
        postgres.start()
        store.record(record(3))  # the same store, no restart: a fresh connection
        verdict = store.verify()
        assert verdict.ok and verdict.checked == 2
    finally:
        store.close()


def test_an_exhausted_pool_waits_a_bounded_time(pg_url: str) -> None:
    from weighbridge.errors import StoreUnavailableError

    store = Store(pg_url, StoreOptions(pool_size=1, pool_timeout_s=0.3))
    try:
        held = threading.Event()
        done = threading.Event()

        def hold() -> None:
            with store.connection():
                held.set()
                done.wait(10)

        holder = threading.Thread(target=hold)
        holder.start()
        held.wait(10)
        began = time.monotonic()
        with pytest.raises(StoreUnavailableError, match="no free connection"):
            store.record(record(1))
        assert 0.25 < time.monotonic() - began < 2
        done.set()
        holder.join()
        store.record(record(2))  # queued callers get the connection once it is free
        assert store.verify().checked == 1
    finally:
        store.close()


def test_the_database_password_is_never_printed(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with_password = pg_url.replace("postgres@", "postgres:hunter2-secret@") + "?password=hunter2-secret"
    monkeypatch.setenv("WEIGHBRIDGE_DATABASE_URL", with_password)  # the test server trusts any
    done = invoke("db", "migrate")
    assert done.returncode == 0, done.stderr
    assert "postgres:***@" in done.stdout and "hunter2" not in done.stdout + done.stderr
