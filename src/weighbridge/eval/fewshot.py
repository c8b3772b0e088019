"""Few-shot examples drawn as lm-evaluation-harness's default sampler draws them.

lm-eval gives each task one ``random.Random(--fewshot_seed)`` (1234 unless told otherwise) and
builds its prompts in dataset order, each drawing ``rnd.sample(pool, k)`` from the few-shot
split as it comes: a question's examples depend on the seed and on its place in the split, not
on ``--limit``, which only stops the walk sooner. Drawing the same way here gives every
question the same examples, so prompts (and scores) agree question by question.

When a task's few-shot split is, by lm-eval's reckoning, its test split (HellaSwag, whose test
split is unset, as is its few-shot split), lm-eval draws k + 1 and drops the question being
asked; :func:`random_shots` does the same given ``asked``, since the draw moves the generator on.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

from weighbridge.errors import InvalidRequestError

T = TypeVar("T")


def random_shots(
    pool: Sequence[T], questions: int, k: int, seed: int, *, asked: Sequence[T] | None = None
) -> list[list[T]]:
    """The ``k`` examples of each of the first ``questions`` questions, in their order. With
    ``asked`` (the questions themselves), each draw is k + 1 less the question, as lm-eval's
    ``ContextSampler.sample`` with an ``eval_doc``."""
    if k == 0:
        return [[] for _ in range(questions)]
    if k > len(pool):
        raise InvalidRequestError(f"{k} few-shot examples asked for, but the few-shot split has {len(pool)}")
    rnd = random.Random(seed)
    population = list(pool)
    if asked is None:
        return [rnd.sample(population, k) for _ in range(questions)]
    drawn = []
    for question in asked[:questions]:
        shots = [shot for shot in rnd.sample(population, k + 1) if shot != question][:k]
        if len(shots) < k:  # the pool holds copies of the question: lm-eval draws again without them
            shots = rnd.sample([shot for shot in population if shot != question], k)
        drawn.append(shots)
    return drawn
