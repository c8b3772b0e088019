"""Bradley-Terry ratings from pairwise votes, with seeded bootstrap intervals. Pure.

A vote is ``(model_a, model_b, outcome)`` with outcome ``a``, ``b``, ``tie`` or ``both_bad``;
a tie (and "both bad") counts half a win to each side. The fit is the MM algorithm (Hunter,
2004); every model also plays one virtual tie against a fixed anchor of strength 1, which
keeps a model that never won (or never lost) finite and pins the scale. Unlike a running Elo,
the result does not depend on the order of the votes. Ratings are on an Elo-like scale:
``1000 + 400 * log10(strength)``.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

Vote = tuple[str, str, str]
OUTCOMES = ("a", "b", "tie", "both_bad")
BASE, SCALE = 1000.0, 400.0


@dataclass(frozen=True)
class Rating:
    model: str
    rating: float
    low: float
    high: float
    votes: int
    wins: float  # ties count half


def _tally(votes: Sequence[Vote]) -> tuple[dict[str, float], dict[tuple[str, str], int]]:
    wins: dict[str, float] = defaultdict(float)
    games: dict[tuple[str, str], int] = defaultdict(int)
    for a, b, outcome in votes:
        if a == b:
            continue
        if outcome == "a":
            wins[a] += 1.0
        elif outcome == "b":
            wins[b] += 1.0
        else:
            wins[a] += 0.5
            wins[b] += 0.5
        games[(a, b) if a < b else (b, a)] += 1
    return wins, games


def strengths(votes: Sequence[Vote], models: Sequence[str], *, iterations: int = 500) -> dict[str, float]:
    """Bradley-Terry strengths by MM, each model regularised by one tie with the anchor."""
    wins, games = _tally(votes)
    p = dict.fromkeys(models, 1.0)
    opponents: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for (i, j), n in games.items():
        opponents[i].append((j, n))
        opponents[j].append((i, n))
    for _ in range(iterations):
        moved = 0.0
        new: dict[str, float] = {}
        for m in models:
            denominator = 1.0 / (p[m] + 1.0)  # the virtual tie with the anchor
            for other, n in opponents[m]:
                denominator += n / (p[m] + p[other])
            new[m] = (wins[m] + 0.5) / denominator
            moved = max(moved, abs(math.log(new[m]) - math.log(p[m])))
        p = new
        if moved < 1e-9:
            break
    return p


def to_scale(strength: float) -> float:
    return BASE + SCALE * math.log10(strength)


def rate(votes: Sequence[Vote], *, bootstrap: int = 200, seed: int = 0) -> list[Rating]:
    """Each model's rating and 95% percentile-bootstrap interval, best first."""
    models = sorted({m for a, b, _ in votes for m in (a, b)})
    if not models:
        return []
    point = {m: to_scale(s) for m, s in strengths(votes, models).items()}
    rng = random.Random(seed)
    samples: dict[str, list[float]] = {m: [] for m in models}
    for _ in range(bootstrap):
        drawn = [votes[rng.randrange(len(votes))] for _ in votes]
        for m, s in strengths(drawn, models, iterations=200).items():
            samples[m].append(to_scale(s))
    wins, _ = _tally(votes)
    counts: dict[str, int] = defaultdict(int)
    for a, b, _outcome in votes:
        counts[a] += 1
        counts[b] += 1
    out = []
    for m in models:
        low, high = _percentile(samples[m], 0.025), _percentile(samples[m], 0.975)
        if not samples[m]:
            low = high = point[m]
        out.append(Rating(m, point[m], min(low, point[m]), max(high, point[m]), counts[m], wins[m]))
    return sorted(out, key=lambda r: (-r.rating, r.model))


def win_matrix(votes: Sequence[Vote]) -> dict[str, dict[str, tuple[float, int]]]:
    """``matrix[row][col]``: (row's win rate against col with ties as halves, games played)."""
    score: dict[tuple[str, str], float] = defaultdict(float)
    played: dict[tuple[str, str], int] = defaultdict(int)
    for a, b, outcome in votes:
        if a == b:
            continue
        share = 1.0 if outcome == "a" else 0.0 if outcome == "b" else 0.5
        score[(a, b)] += share
        score[(b, a)] += 1.0 - share
        played[(a, b)] += 1
        played[(b, a)] += 1
    matrix: dict[str, dict[str, tuple[float, int]]] = defaultdict(dict)
    for (row, col), n in played.items():
        matrix[row][col] = (score[(row, col)] / n, n)
    return dict(matrix)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)
