"""The arena's votes as evidence per (task, model, weights).

A vote names two models and, where the page sent them, the logged answers it was cast on; the
log says which weights gave each answer, so a model's votes are split by its weights, as its
scores are, and new weights start unrated; and by the drift era they were cast in (the vote's
time), so a model found drifting starts unrated too. The ratings are the leaderboard's
(Bradley-Terry with bootstrap intervals, :mod:`weighbridge.web.ratings`), fitted per task with
each (model, weights, era) a player of its own.
"""

from __future__ import annotations

import json
from collections import defaultdict

from weighbridge.evidence.drift import Eras
from weighbridge.evidence.rows import Arena, Key, weights_of
from weighbridge.store.database import Connection
from weighbridge.web import ratings, votes

#: Answers looked up in the log per query: far below any backend's limit on parameters.
_CHUNK = 500


def ratings_by_weights(db: Connection, eras: Eras) -> dict[Key, Arena]:
    """Each task's ratings, fitted apart for chat and image votes (the two leaderboards: their
    models never meet, so one fit would set unrelated scales side by side); a vote whose
    answers the log cannot name rates weights ``None``."""
    cast_by = {modality: votes.load(db, modality=modality) for modality in votes.MODALITIES}
    stored = [vote for found in cast_by.values() for vote in found]
    answered = answered_with(db, [i for v in stored for i in (v.inference_a, v.inference_b) if i is not None])
    by_task: dict[tuple[str, str], list[ratings.Vote]] = defaultdict(list)

    def player(model: str, inference: str | None, cast: str) -> str:
        """The model's weights in the era the vote was cast in, as one name for the ratings
        (which take names), read back by json."""
        return json.dumps([model, answered.get(inference or ""), eras.since(model, cast)])

    for modality, cast in cast_by.items():
        for vote in cast:
            a = player(vote.model_a, vote.inference_a, vote.created_at)
            b = player(vote.model_b, vote.inference_b, vote.created_at)
            by_task[(modality, vote.task)].append((a, b, vote.outcome))
    found: dict[Key, Arena] = {}
    for (_, task), triples in by_task.items():
        for rated in ratings.rate(triples):
            model, weights, since = json.loads(rated.model)
            win_rate = rated.wins / rated.votes if rated.votes else 0.0
            found[(task, model, weights, since)] = Arena(
                rated.rating, rated.low, rated.high, rated.votes, win_rate
            )
    return found


def answered_with(db: Connection, ids: list[str]) -> dict[str, str | None]:
    """The weights that gave each logged answer."""
    found: dict[str, str | None] = {}
    unique = sorted(set(ids))
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start : start + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        rows = db.execute(
            f"SELECT id, weight_sha256, upstream_model FROM inferences WHERE id IN ({marks})", chunk
        ).fetchall()
        found.update({row[0]: weights_of(row[1], row[2]) for row in rows})
    return found
