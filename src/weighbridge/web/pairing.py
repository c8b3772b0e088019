"""Which two models the arena shows next. Pure: the caller brings the counts and the history.

The pair chosen is the one whose models have been shown least (summed), leaving out the last
pairs shown while any other pair is left; ties are broken at random, and which model is "A"
is random too, so position says nothing about the model.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from itertools import combinations


def key(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def choose_pair(
    pool: Sequence[str],
    shown: Mapping[str, int],
    recent: Sequence[tuple[str, str]],
    rng: random.Random,
) -> tuple[str, str]:
    """Two distinct models from ``pool``: least shown first, avoiding ``recent`` pairs."""
    models = sorted(set(pool))
    if len(models) < 2:
        raise ValueError("the arena needs at least two models in the pool")
    pairs = [key(a, b) for a, b in combinations(models, 2)]
    recent_keys = {key(a, b) for a, b in recent}
    fresh = [pair for pair in pairs if pair not in recent_keys] or pairs
    least = min(shown.get(a, 0) + shown.get(b, 0) for a, b in fresh)
    best = [(a, b) for a, b in fresh if shown.get(a, 0) + shown.get(b, 0) == least]
    a, b = rng.choice(best)
    return (a, b) if rng.random() < 0.5 else (b, a)


def recent_window(pool_size: int) -> int:
    """How many of the last pairs to avoid: half the possible pairs, so some stay open."""
    return max(0, (pool_size * (pool_size - 1) // 2) // 2)
