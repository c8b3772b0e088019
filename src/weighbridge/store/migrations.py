"""Schema migrations: named functions in an append-only list, each applied once.

The same migrations serve both backends: they are written in SQLite's words, which the
PostgreSQL backend translates (:func:`weighbridge.store.postgres.translate`). Replicas that
start together take turns: each migration runs in a transaction holding one named lock, and
checks again inside it whether another process applied it meanwhile.

Never edit or reorder a migration that has shipped; add a new one at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from weighbridge.store.database import Connection

_M001_COLUMNS = (
    "id", "created_at", "source", "model", "provider", "upstream_model", "weight_sha256",
    "prompt_tokens", "completion_tokens", "latency_ms", "ttft_ms", "cost_usd", "cost_basis",
    "status", "finish_reason", "error", "retention", "request", "response",
)  # fmt: skip


def m001_inferences(db: Connection) -> None:
    db.execute(
        """
        CREATE TABLE inferences (
            id TEXT PRIMARY KEY,
            created_at TEXT NOT NULL,
            source TEXT NOT NULL,
            model TEXT NOT NULL,
            provider TEXT NOT NULL,
            upstream_model TEXT,
            weight_sha256 TEXT,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            latency_ms REAL,
            ttft_ms REAL,
            cost_usd REAL,
            cost_basis TEXT,
            status TEXT NOT NULL CHECK (status IN ('ok', 'error', 'incomplete')),
            finish_reason TEXT,
            error TEXT,
            retention TEXT NOT NULL,
            request TEXT,
            response TEXT
        )
        """
    )
    db.execute("CREATE INDEX inferences_created_at ON inferences (created_at)")
    db.execute("CREATE INDEX inferences_model ON inferences (model)")


def m002_weight_hashes(db: Connection) -> None:
    db.execute(
        """
        CREATE TABLE weight_hashes (
            path TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            PRIMARY KEY (path, size, mtime_ns)
        )
        """
    )


def m003_audit_chain(db: Connection) -> None:
    """Who asked and how it was routed, and the hash chain that makes the log tamper-evident.

    Records written before this migration are chained here, in the order they were written.
    """
    from weighbridge.store.audit import chain_existing

    added = ("key_name", "route", "route_reason", "prev_hash", "hash")
    for column in added:
        db.execute(f"ALTER TABLE inferences ADD COLUMN {column} TEXT")
    db.execute(
        "CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), "
        "count INTEGER NOT NULL, hash TEXT NOT NULL)"
    )
    chain_existing(db, [*_M001_COLUMNS, *added])


def m004_api_keys(db: Connection) -> None:
    """Virtual keys: stored as digests only, with their limits and what they have spent."""
    db.execute(
        """
        CREATE TABLE api_keys (
            name TEXT PRIMARY KEY,
            digest TEXT NOT NULL UNIQUE,
            prefix TEXT NOT NULL,
            models TEXT,
            budget_usd REAL,
            rpm INTEGER,
            spent_usd REAL NOT NULL DEFAULT 0,
            reserved_usd REAL NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            revoked_at TEXT
        )
        """
    )


def m005_compare_runs(db: Connection) -> None:
    """Compare runs and their cells. A cell is one model's answer to one prompt (one sample),
    written the moment it finishes; ``hash`` identifies what was asked of which weights, so a
    later run reuses a finished cell instead of calling the model again. Judge verdicts are
    cached the same way in ``compare_judgements``."""
    db.execute(
        """
        CREATE TABLE compare_runs (
            id TEXT PRIMARY KEY,
            created_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL CHECK (status IN ('running', 'complete', 'interrupted')),
            source TEXT NOT NULL,
            description TEXT,
            models TEXT NOT NULL,
            skipped TEXT NOT NULL,
            params TEXT NOT NULL,
            samples INTEGER NOT NULL,
            cases TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX compare_runs_created_at ON compare_runs (created_at)")
    db.execute(
        """
        CREATE TABLE compare_cells (
            run_id TEXT NOT NULL REFERENCES compare_runs (id) ON DELETE CASCADE,
            model TEXT NOT NULL,
            prompt_id TEXT NOT NULL,
            sample INTEGER NOT NULL,
            hash TEXT NOT NULL,
            created_at TEXT NOT NULL,
            cached INTEGER NOT NULL DEFAULT 0,
            inference_id TEXT,
            output TEXT,
            error TEXT,
            finish_reason TEXT,
            upstream_model TEXT,
            weight_sha256 TEXT,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            latency_s REAL,
            ttft_s REAL,
            cost_usd REAL,
            cost_basis TEXT,
            scores TEXT NOT NULL DEFAULT '[]',
            judgements TEXT NOT NULL DEFAULT '[]',
            PRIMARY KEY (run_id, model, prompt_id, sample)
        )
        """
    )
    db.execute("CREATE INDEX compare_cells_hash ON compare_cells (hash)")
    db.execute(
        """
        CREATE TABLE compare_judgements (
            hash TEXT PRIMARY KEY,
            created_at TEXT NOT NULL,
            model TEXT NOT NULL,
            messages TEXT NOT NULL,
            verdict TEXT NOT NULL,
            cost_usd REAL,
            latency_s REAL
        )
        """
    )


def m006_drift(db: Connection) -> None:
    """Drift canaries: the answers a model gave when it was trusted, and each check since."""
    db.execute(
        """
        CREATE TABLE drift_baselines (
            model TEXT NOT NULL,
            prompt_id TEXT NOT NULL,
            prompt_sha256 TEXT NOT NULL,
            output TEXT NOT NULL,
            upstream_model TEXT,
            weight_sha256 TEXT,
            created_at TEXT NOT NULL,
            PRIMARY KEY (model, prompt_id)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE drift_checks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            model TEXT NOT NULL,
            created_at TEXT NOT NULL,
            prompts INTEGER NOT NULL,
            exact_match_rate REAL NOT NULL,
            similarity REAL NOT NULL,
            threshold REAL NOT NULL,
            changed INTEGER NOT NULL,
            reasons TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX drift_checks_model ON drift_checks (model, created_at)")


def m007_arena_votes(db: Connection) -> None:
    """Blind arena votes: two models answered one prompt, a person said which was better.
    ``outcome`` is 'a', 'b', 'tie' or 'both_bad'; the answers are the inference log's ids."""
    db.execute(
        """
        CREATE TABLE arena_votes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at TEXT NOT NULL,
            task TEXT NOT NULL,
            prompt_sha256 TEXT NOT NULL,
            model_a TEXT NOT NULL,
            model_b TEXT NOT NULL,
            inference_a TEXT,
            inference_b TEXT,
            outcome TEXT NOT NULL CHECK (outcome IN ('a', 'b', 'tie', 'both_bad')),
            key_name TEXT
        )
        """
    )
    db.execute("CREATE INDEX arena_votes_task ON arena_votes (task, created_at)")


def m008_route_budgets(db: Connection) -> None:
    """What each route with a budget has spent and holds in reservations. The budget itself is
    in the config, where the route is; these are the counters the gateway checks it against."""
    db.execute(
        """
        CREATE TABLE route_budgets (
            route TEXT PRIMARY KEY,
            spent_usd REAL NOT NULL DEFAULT 0,
            reserved_usd REAL NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL
        )
        """
    )


def m009_run_owner(db: Connection) -> None:
    """The process running a compare run, so that one killed outright reads as interrupted."""
    db.execute("ALTER TABLE compare_runs ADD COLUMN owner TEXT")


def m010_benchmarks(db: Connection) -> None:
    """Benchmark results worth reusing: ``bench/serving.py`` stores the aggregate tokens/s it
    measured through ``weighbridge serve``, per model and weight file, for ``crossover``."""
    db.execute(
        """
        CREATE TABLE benchmarks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at TEXT NOT NULL,
            kind TEXT NOT NULL,
            model TEXT NOT NULL,
            weight_sha256 TEXT,
            machine TEXT NOT NULL,
            figures TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX benchmarks_model ON benchmarks (kind, model, created_at)")


def m011_replicas(db: Connection) -> None:
    """What gateway replicas share besides the log: each budget hold, a row with when it was
    taken (so the holds of a replica that died are released), each key's requests of the last
    minute (rate limits exact across replicas), page sessions and arena pairs (any replica
    answers the next request)."""
    db.execute(
        """
        CREATE TABLE reservations (
            id TEXT PRIMARY KEY,
            ledger TEXT NOT NULL,
            holder TEXT NOT NULL,
            usd REAL NOT NULL,
            taken_at REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX reservations_taken_at ON reservations (taken_at)")
    db.execute("CREATE TABLE rate_events (id TEXT PRIMARY KEY, key_name TEXT NOT NULL, at REAL NOT NULL)")
    db.execute("CREATE INDEX rate_events_key ON rate_events (key_name, at)")
    db.execute(
        """
        CREATE TABLE page_sessions (
            token_digest TEXT PRIMARY KEY,
            key_digest TEXT NOT NULL,
            csrf TEXT NOT NULL,
            seen REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX page_sessions_seen ON page_sessions (seen)")
    db.execute(
        """
        CREATE TABLE arena_pairs (
            id TEXT PRIMARY KEY,
            model_a TEXT NOT NULL,
            model_b TEXT NOT NULL,
            caller TEXT NOT NULL,
            created REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX arena_pairs_created ON arena_pairs (created)")
    # What is held is now the sum of the live holds' rows: the counters go (with them any hold
    # a gateway made before this migration, whose request is long over).
    db.execute("ALTER TABLE api_keys DROP COLUMN reserved_usd")
    db.execute("ALTER TABLE route_budgets DROP COLUMN reserved_usd")


def m012_chain_without_forks(db: Connection) -> None:
    """No two records may follow the same record: a writer that appends after a stale head is
    refused by the database itself, whichever process or replica it is (see ``audit.append``)."""
    db.execute("CREATE UNIQUE INDEX inferences_prev_hash ON inferences (prev_hash)")


def m013_run_task(db: Connection) -> None:
    """The task a compare run's prompt set names, so its scores count as evidence for that task
    (``weighbridge evidence``); a run without one is read under its prompt file's name."""
    db.execute("ALTER TABLE compare_runs ADD COLUMN task TEXT")


MIGRATIONS: list[Callable[[Connection], None]] = [
    m001_inferences,
    m002_weight_hashes,
    m003_audit_chain,
    m004_api_keys,
    m005_compare_runs,
    m006_drift,
    m007_arena_votes,
    m008_route_budgets,
    m009_run_owner,
    m010_benchmarks,
    m011_replicas,
    m012_chain_without_forks,
    m013_run_task,
]
_LOCK = "weighbridge.migrations"


def migrate(db: Connection) -> list[str]:
    """Apply the migrations this database lacks; returns their names."""
    with db.transaction():
        db.lock(_LOCK)
        db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        done = {row[0] for row in db.execute("SELECT name FROM _migrations")}
    applied = []
    for migration in MIGRATIONS:
        if migration.__name__ in done:
            continue
        with db.transaction():  # each migration whole or not at all
            db.lock(_LOCK)
            if db.execute("SELECT 1 FROM _migrations WHERE name = ?", (migration.__name__,)).fetchone():
                continue  # another process applied it while this one waited
            migration(db)
            db.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                (migration.__name__, datetime.now(UTC).isoformat()),
            )
        applied.append(migration.__name__)
    return applied
