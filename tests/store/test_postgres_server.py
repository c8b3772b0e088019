"""The PostgreSQL server the store tests run against (tests/support/postgres.py) is a real one:
it stores rows, keeps them across a restart on the same port, and gives each test a database of
its own."""

from __future__ import annotations

import time

import psycopg

from tests.support.postgres import PostgresServer


def test_rows_are_stored_and_survive_a_restart(postgres: PostgresServer, pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        conn.execute("CREATE TABLE weights (name text PRIMARY KEY, grams integer NOT NULL)")
        conn.execute("INSERT INTO weights VALUES (%s, %s)", ("parcel", 1250))
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT name, grams FROM weights").fetchall() == [("parcel", 1250)]

    port = postgres.port
    started = time.monotonic()
    postgres.restart(down_s=0.1)
    assert time.monotonic() - started < 10
    assert postgres.port == port

    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT name, grams FROM weights").fetchall() == [("parcel", 1250)]


def test_a_connection_open_across_a_restart_breaks_and_a_new_one_works(
    postgres: PostgresServer, pg_url: str
) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        postgres.restart()
        try:
            conn.execute("SELECT 1")
        except psycopg.OperationalError:
            pass
        else:
            raise AssertionError("a connection to the stopped server still answered")
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_each_test_database_is_fresh_and_its_own(postgres: PostgresServer, pg_url: str) -> None:
    other = postgres.create_database()
    assert other != pg_url
    for url in (pg_url, other):
        with psycopg.connect(url) as conn:
            tables = conn.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
            ).fetchone()
            assert tables == (0,)
    with psycopg.connect(pg_url) as conn:
        conn.execute("CREATE TABLE only_here (id integer)")
    with psycopg.connect(other) as conn:
        assert conn.execute("SELECT to_regclass('only_here')").fetchone() == (None,)
