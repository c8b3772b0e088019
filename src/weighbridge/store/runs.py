"""Compare runs in the store: the run, its cells, and the cache of finished cells and verdicts.

A cell is written the moment it finishes, so an interrupted run keeps every answer it got. A
later run looks a cell up by its content hash (what was asked, of which weights or snapshot,
with which parameters): a finished cell, from any run, is copied instead of asked again; a
failed one is asked again. Every function takes the connection from ``Store.connection()``.

A run killed outright (``kill -9``, a power cut) never writes its end, so each run names the
process that runs it (``owner``), and a run still marked running whose process is gone reads as
interrupted: which it is, and ``--resume``-free re-running reuses every finished cell anyway.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from weighbridge.errors import InvalidRequestError
from weighbridge.store.database import Connection


def now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class RunRow:
    id: str
    created_at: str
    status: str
    source: str
    models: list[str]
    skipped: dict[str, str]
    params: dict[str, Any]
    samples: int
    cases: list[dict[str, Any]]
    description: str | None = None
    finished_at: str | None = None
    owner: str | None = None
    #: The task the prompt set names; None for one that names none (and for an evaluation).
    task: str | None = None


@dataclass
class CellRow:
    run_id: str
    model: str
    prompt_id: str
    sample: int
    hash: str
    created_at: str = field(default_factory=now)
    cached: bool = False
    inference_id: str | None = None
    output: str | None = None
    error: str | None = None
    finish_reason: str | None = None
    upstream_model: str | None = None
    weight_sha256: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float | None = None
    ttft_s: float | None = None
    cost_usd: float | None = None
    cost_basis: str | None = None
    scores: list[dict[str, Any]] = field(default_factory=list)
    judgements: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Judgement:
    """A judge model's raw verdict on one prompt, cached by the hash of what it was asked."""

    hash: str
    model: str
    messages: list[dict[str, Any]]
    verdict: str
    cost_usd: float | None = None
    latency_s: float | None = None


_RUN_JSON = ("models", "skipped", "params", "cases")
_CELL_JSON = ("scores", "judgements")
_RUN_COLUMNS = [f.name for f in fields(RunRow)]
_CELL_COLUMNS = [f.name for f in fields(CellRow)]


def create_run(db: Connection, run: RunRow) -> None:
    values = {k: json.dumps(v) if k in _RUN_JSON else v for k, v in _as_dict(run).items()}
    db.execute(
        f"INSERT INTO compare_runs ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
        list(values.values()),
    )


def finish_run(db: Connection, run_id: str, status: str) -> None:
    db.execute("UPDATE compare_runs SET status = ?, finished_at = ? WHERE id = ?", (status, now(), run_id))


def save_cell(db: Connection, cell: CellRow) -> None:
    """Write (or rewrite) one cell; one statement, so a crash leaves it whole or absent."""
    values = _cell_values(cell)
    db.execute(
        f"INSERT INTO compare_cells ({', '.join(values)}) VALUES ({', '.join('?' * len(values))}) "
        f"ON CONFLICT (run_id, model, prompt_id, sample) DO UPDATE SET {_replace(values)}",
        list(values.values()),
    )


def save_scores(db: Connection, cell: CellRow) -> None:
    db.execute(
        "UPDATE compare_cells SET scores = ?, judgements = ? "
        "WHERE run_id = ? AND model = ? AND prompt_id = ? AND sample = ?",
        (
            json.dumps(cell.scores),
            json.dumps(cell.judgements),
            cell.run_id,
            cell.model,
            cell.prompt_id,
            cell.sample,
        ),
    )


def finished_cell(db: Connection, cell_hash: str) -> CellRow | None:
    """The newest cell with this hash that got an answer, from any run."""
    row = db.execute(
        f"SELECT {', '.join(_CELL_COLUMNS)} FROM compare_cells WHERE hash = ? AND error IS NULL "
        "AND output IS NOT NULL ORDER BY created_at DESC LIMIT 1",
        (cell_hash,),
    ).fetchone()
    return _cell(row) if row else None


def cells(db: Connection, run_id: str) -> list[CellRow]:
    rows = db.execute(
        f"SELECT {', '.join(_CELL_COLUMNS)} FROM compare_cells WHERE run_id = ? ORDER BY rowid", (run_id,)
    ).fetchall()
    return [_cell(row) for row in rows]


def recent_runs(db: Connection, limit: int) -> list[tuple[RunRow, int, int]]:
    """The newest runs with how many cells each has and how many of them failed."""
    rows = db.execute(
        f"SELECT {', '.join('r.' + c for c in _RUN_COLUMNS)}, "
        "(SELECT count(*) FROM compare_cells c WHERE c.run_id = r.id), "
        "(SELECT count(*) FROM compare_cells c WHERE c.run_id = r.id AND c.error IS NOT NULL) "
        "FROM compare_runs r ORDER BY r.created_at DESC, r.rowid DESC LIMIT ?",
        (limit,),
    ).fetchall()
    return [(_run(row[: len(_RUN_COLUMNS)]), int(row[-2]), int(row[-1])) for row in rows]


def all_runs(db: Connection) -> list[RunRow]:
    """Every run, compare or eval, oldest first: what the evidence table is read from."""
    rows = db.execute(
        f"SELECT {', '.join(_RUN_COLUMNS)} FROM compare_runs ORDER BY created_at, rowid"
    ).fetchall()
    return [_run(row) for row in rows]


def find_run(db: Connection, prefix: str) -> RunRow:
    """The run whose id is ``prefix`` or starts with it; one clear error otherwise."""
    if not prefix:
        raise InvalidRequestError("give a run id (see 'weighbridge runs')")
    rows = db.execute(
        f"SELECT {', '.join(_RUN_COLUMNS)} FROM compare_runs WHERE id = ? OR id LIKE ? ESCAPE '\\' LIMIT 3",
        (prefix, _literal(prefix) + "%"),
    ).fetchall()
    exact = [r for r in rows if r[0] == prefix]
    if exact:
        return _run(exact[0])
    if not rows:
        raise InvalidRequestError(f"no run '{prefix}': 'weighbridge runs' lists them")
    if len(rows) > 1:
        raise InvalidRequestError(
            f"'{prefix}' matches several runs ({', '.join(r[0] for r in rows)}...): give more of the id"
        )
    return _run(rows[0])


def runs_using(db: Connection, model: str) -> list[RunRow]:
    """Every run, compare or eval, that asked ``model`` (not one that skipped it), newest first."""
    rows = db.execute(
        f"SELECT {', '.join(_RUN_COLUMNS)} FROM compare_runs WHERE models LIKE ? ESCAPE '\\' "
        "ORDER BY created_at DESC, rowid DESC",
        ("%" + _literal(json.dumps(model)) + "%",),
    ).fetchall()
    return [run for run in map(_run, rows) if model in run.models]  # LIKE narrows, this decides


def _literal(text: str) -> str:
    """``text`` for a LIKE pattern (with ``ESCAPE '\\'``) that matches it and nothing else."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def judgement(db: Connection, judgement_hash: str) -> Judgement | None:
    row = db.execute(
        "SELECT hash, model, messages, verdict, cost_usd, latency_s FROM compare_judgements WHERE hash = ?",
        (judgement_hash,),
    ).fetchone()
    if row is None:
        return None
    return Judgement(row[0], row[1], json.loads(row[2]), row[3], row[4], row[5])


def save_judgement(db: Connection, judged: Judgement) -> None:
    db.execute(
        "INSERT INTO compare_judgements (hash, created_at, model, messages, verdict, cost_usd, latency_s) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (hash) DO UPDATE SET "
        + _replace(["created_at", "model", "messages", "verdict", "cost_usd", "latency_s"]),
        (
            judged.hash,
            now(),
            judged.model,
            json.dumps(judged.messages),
            judged.verdict,
            judged.cost_usd,
            judged.latency_s,
        ),
    )


def _replace(columns: Iterable[str]) -> str:
    """The SET list of an upsert that overwrites the row (what SQLite's INSERT OR REPLACE did)."""
    return ", ".join(f"{column} = excluded.{column}" for column in columns)


def _as_dict(row: RunRow | CellRow) -> dict[str, Any]:
    return {f.name: getattr(row, f.name) for f in fields(row)}


def _cell_values(cell: CellRow) -> dict[str, Any]:
    values = _as_dict(cell)
    for key in _CELL_JSON:
        values[key] = json.dumps(values[key])
    values["cached"] = int(cell.cached)
    return values


def _cell(row: Any) -> CellRow:
    data = dict(zip(_CELL_COLUMNS, row, strict=True))
    for key in _CELL_JSON:
        data[key] = json.loads(data[key])
    data["cached"] = bool(data["cached"])
    return CellRow(**data)


def _run(row: Any) -> RunRow:
    data = dict(zip(_RUN_COLUMNS, row, strict=True))
    for key in _RUN_JSON:
        data[key] = json.loads(data[key])
    if data["status"] == "running" and data["owner"] and _gone(data["owner"]):
        data["status"] = "interrupted"
    return RunRow(**data)


def this_process() -> str:
    """Who runs a run: host, pid and the process's start time (a pid can be reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{_started(os.getpid())}"


def _started(pid: int) -> str:
    """When process ``pid`` started, in clock ticks since boot (Linux), or '' where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]  # field 22; the name before ')' may hold spaces


def _gone(owner: str) -> bool:
    """Whether the process that ``owner`` names has ended; a run owned on another host is
    taken as alive, since there is no asking."""
    host, _, rest = owner.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, another user's
    return bool(started) and _started(pid) != started
