"""Arena votes in the store, and the log figures the leaderboard reads beside them.

A vote's modality is read from the log: an image vote's answers are image records (which
keep the count of their pictures whatever the retention), so chat and image votes never mix
on a board, and the votes table needs no column for it.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from weighbridge.call import IMAGE_RECORD, pictures_in
from weighbridge.hashing import sha256_hex
from weighbridge.store.database import Connection
from weighbridge.web import ratings


@dataclass(frozen=True)
class StoredVote:
    id: int
    created_at: str
    task: str
    prompt_sha256: str
    model_a: str
    model_b: str
    inference_a: str | None
    inference_b: str | None
    outcome: str
    key_name: str | None


_COLUMNS = (
    "id, created_at, task, prompt_sha256, model_a, model_b, inference_a, inference_b, outcome, key_name"
)
#: What the arena compares: answers to a chat prompt, or pictures from one.
MODALITIES = ("chat", "image")
_IMAGE_VOTE = (
    "EXISTS (SELECT 1 FROM inferences i WHERE i.id IN (arena_votes.inference_a, arena_votes.inference_b) "
    "AND i.response LIKE ?)"
)


def prompt_hash(prompt: str) -> str:
    return sha256_hex(prompt)


def record(
    db: Connection,
    *,
    task: str,
    prompt_sha256: str,
    model_a: str,
    model_b: str,
    inference_a: str | None,
    inference_b: str | None,
    outcome: str,
    key_name: str | None,
) -> int:
    if outcome not in ratings.OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(ratings.OUTCOMES)}")
    cursor = db.execute(
        "INSERT INTO arena_votes (created_at, task, prompt_sha256, model_a, model_b, inference_a, "
        "inference_b, outcome, key_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            datetime.now(UTC).isoformat(),
            task,
            prompt_sha256,
            model_a,
            model_b,
            inference_a,
            inference_b,
            outcome,
            key_name,
        ),
    )
    return int(cursor.fetchone()[0])


def _where(
    task: str | None = None, key_name: str | None = None, modality: str | None = None
) -> tuple[str, list[str]]:
    where, args = [], []
    if task:
        where.append("task = ?")
        args.append(task)
    if key_name is not None:
        where.append("key_name = ?")
        args.append(key_name)
    if modality is not None:
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {', '.join(MODALITIES)}")
        where.append(_IMAGE_VOTE if modality == "image" else "NOT " + _IMAGE_VOTE)
        args.append(IMAGE_RECORD + "%")
    return (" WHERE " + " AND ".join(where) if where else ""), args


def load(
    db: Connection, *, task: str | None = None, key_name: str | None = None, modality: str | None = None
) -> list[StoredVote]:
    """Votes oldest first; ``task``, ``key_name`` and ``modality`` narrow them when given."""
    where, args = _where(task, key_name, modality)
    return [
        StoredVote(*row) for row in db.execute(f"SELECT {_COLUMNS} FROM arena_votes{where} ORDER BY id", args)
    ]


def tasks(db: Connection, modality: str | None = None) -> list[str]:
    where, args = _where(modality=modality)
    return [row[0] for row in db.execute(f"SELECT DISTINCT task FROM arena_votes{where} ORDER BY task", args)]


def inference(db: Connection, inference_id: str) -> dict[str, Any] | None:
    """The figures of one logged inference (no texts, but the count of its pictures), or None."""
    row = db.execute(
        "SELECT id, model, key_name, status, prompt_tokens, completion_tokens, latency_ms, ttft_ms, "
        "cost_usd, cost_basis, error, CASE WHEN response LIKE ? THEN response END "
        "FROM inferences WHERE id = ?",
        (IMAGE_RECORD + "%", inference_id),
    ).fetchone()
    if row is None:
        return None
    names = (
        "id", "model", "key_name", "status", "prompt_tokens", "completion_tokens", "latency_ms", "ttft_ms",
        "cost_usd", "cost_basis", "error",
    )  # fmt: skip
    return {**dict(zip(names, row[:-1], strict=True)), "pictures": pictures_in(row[-1])}


def model_figures(
    db: Connection, models: list[str], modality: str = "chat"
) -> dict[str, dict[str, float | None]]:
    """Per model, from the log's successful inferences: median latency and cost per 1,000
    prompts; for pictures, per picture, as a call may make several."""
    out: dict[str, dict[str, float | None]] = {}
    for model in models:
        rows = db.execute(
            "SELECT latency_ms, cost_usd, CASE WHEN response LIKE ? THEN response END FROM inferences "
            "WHERE model = ? AND status = 'ok'",
            (IMAGE_RECORD + "%", model),
        ).fetchall()
        if modality == "image":
            made = [(r[0], r[1], pictures_in(r[2])) for r in rows]
            latencies = [latency / n for latency, _, n in made if latency is not None and n]
            costs = [cost / n for _, cost, n in made if cost is not None and n]
            out[model] = {
                "median_latency_per_image_ms": statistics.median(latencies) if latencies else None,
                "cost_per_image_usd": statistics.fmean(costs) if costs else None,
                "images": float(sum(n for _, _, n in made)),
            }
            continue
        latencies = [r[0] for r in rows if r[0] is not None]
        costs = [r[1] for r in rows if r[1] is not None]
        out[model] = {
            "median_latency_ms": statistics.median(latencies) if latencies else None,
            "cost_per_1k_prompts_usd": 1000 * statistics.fmean(costs) if costs else None,
            "inferences": float(len(rows)),
        }
    return out


def leaderboard(
    db: Connection,
    *,
    task: str | None = None,
    key_name: str | None = None,
    seed: int = 0,
    modality: str = "chat",
) -> dict[str, Any]:
    """Ratings with intervals, the win-rate matrix, counts and the log's speed and money, from
    the votes of one modality: a picture's win says nothing of a chat answer."""
    stored = load(db, task=task, key_name=key_name, modality=modality)
    triples = [(v.model_a, v.model_b, v.outcome) for v in stored]
    rated = ratings.rate(triples, seed=seed)
    figures = model_figures(db, [r.model for r in rated], modality)
    matrix = ratings.win_matrix(triples)
    rows = []
    for rank, r in enumerate(rated, 1):
        row: dict[str, Any] = {"rank": rank, **asdict(r)}
        row.update(figures[r.model])
        rows.append(row)
    return {
        "task": task,
        "modality": modality,
        "votes": len(stored),
        "outcomes": {o: sum(1 for v in stored if v.outcome == o) for o in ratings.OUTCOMES},
        "tasks": tasks(db, modality),
        "models": rows,
        "matrix": {
            row: {col: {"win_rate": rate, "games": n} for col, (rate, n) in cols.items()}
            for row, cols in matrix.items()
        },
    }


#: A pair drawn and never voted on is forgotten after a day.
PAIR_TTL_S = 24 * 3600.0


def open_pair(db: Connection, pair_id: str, a: str, b: str, caller: str) -> None:
    """Remember a drawn pair in the store, so the vote may reach any replica."""
    now = time.time()
    db.execute("DELETE FROM arena_pairs WHERE created < ?", (now - PAIR_TTL_S,))
    db.execute(
        "INSERT INTO arena_pairs (id, model_a, model_b, caller, created) VALUES (?, ?, ?, ?, ?)",
        (pair_id, a, b, caller, now),
    )


def find_pair(db: Connection, pair_id: str, caller: str) -> tuple[str, str] | None:
    """The two models of ``caller``'s pending pair ``pair_id``."""
    row = db.execute(
        "SELECT model_a, model_b FROM arena_pairs WHERE id = ? AND caller = ? AND created >= ?",
        (pair_id, caller, time.time() - PAIR_TTL_S),
    ).fetchone()
    return (str(row[0]), str(row[1])) if row else None


def take_pair(db: Connection, pair_id: str) -> bool:
    """Use the pair up; False when another vote (on any replica) took it first."""
    return db.execute("DELETE FROM arena_pairs WHERE id = ?", (pair_id,)).rowcount == 1
