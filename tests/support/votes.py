"""Arena votes recorded as the page records them (the same ``web.votes.record``), for the tests
of what reads votes: the evidence, its page, simulate."""

from __future__ import annotations

from weighbridge.compare.results import Results
from weighbridge.store import Store
from weighbridge.web import votes

MODELS = ("cloud-a", "cloud-b")


def answers(results: Results, prompt_id: str, models: tuple[str, str] = MODELS) -> tuple[str, str]:
    """The logged answers of the two models to ``prompt_id`` in a compare run."""
    a, b = (results.cell(model, prompt_id) for model in models)
    assert a is not None and a.inference_id and b is not None and b.inference_id
    return a.inference_id, b.inference_id


def vote(
    store: Store, answered: tuple[str, str], outcome: str, *, task: str, models: tuple[str, str] = MODELS
) -> int:
    """One vote between two logged answers of ``models``; its id."""
    with store.connection() as db:
        return votes.record(
            db,
            task=task,
            prompt_sha256=votes.prompt_hash(f"{task}: {answered}"),
            model_a=models[0],
            model_b=models[1],
            inference_a=answered[0],
            inference_b=answered[1],
            outcome=outcome,
            key_name=None,
        )
