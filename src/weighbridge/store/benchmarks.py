"""Stored benchmark results: what a benchmark measured, for which model and weight file, on
which machine. Each result is a new row; readers take the newest that still fits."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from weighbridge.store.database import Connection


@dataclass(frozen=True)
class Benchmark:
    created_at: str
    kind: str
    model: str
    weight_sha256: str | None
    machine: str
    figures: dict[str, Any]


def save(db: Connection, result: Benchmark) -> None:
    db.execute(
        "INSERT INTO benchmarks (created_at, kind, model, weight_sha256, machine, figures) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            result.created_at,
            result.kind,
            result.model,
            result.weight_sha256,
            result.machine,
            json.dumps(result.figures),
        ),
    )


def latest(db: Connection, kind: str, model: str, weight_sha256: str | None) -> Benchmark | None:
    """The newest ``kind`` result for ``model`` measured on these very weights."""
    row = db.execute(
        "SELECT created_at, kind, model, weight_sha256, machine, figures FROM benchmarks "
        "WHERE kind = ? AND model = ? "
        "AND (weight_sha256 = ? OR (weight_sha256 IS NULL AND CAST(? AS TEXT) IS NULL)) "
        "ORDER BY created_at DESC, id DESC LIMIT 1",
        (kind, model, weight_sha256, weight_sha256),
    ).fetchone()
    if row is None:
        return None
    created_at, kind, model, sha, machine, figures = row
    return Benchmark(created_at, kind, model, sha, machine, json.loads(figures))


def now() -> str:
    return datetime.now(UTC).isoformat()
