"""One evaluation: tasks on models, from datasets on local disk, scored as lm-eval scores them.

Multiple choice is scored by log-likelihood, which needs a model that shows its tokenizer and
the log-probabilities of a prompt's tokens (a local GGUF model, in-process or on its engine).
Every report row names its method, so a score is never read as another kind of score.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from weighbridge.client import Client
from weighbridge.errors import InvalidRequestError
from weighbridge.eval.datasets import load_split
from weighbridge.eval.multiple_choice import Answered, Score, answer, scores
from weighbridge.eval.tasks import TASKS, MultipleChoiceTask, Question
from weighbridge.targets import resolve

LOGLIKELIHOOD = "loglikelihood"


@dataclass(frozen=True)
class TaskResult:
    model: str
    task: str
    method: str
    shots: int
    metrics: tuple[str, ...]
    answered: list[Answered]

    def scores(self, metric: str) -> dict[str, Score]:
        """The metric per group, and over every question under ``""``."""
        return scores(self.answered, metric)


def task(name: str) -> MultipleChoiceTask:
    found = TASKS.get(name)
    if found is None:
        raise InvalidRequestError(f"unknown task '{name}': the tasks are {', '.join(sorted(TASKS))}")
    return found


def questions(
    chosen: MultipleChoiceTask, *, limit: int | None, shots: int, data_dir: Path | None
) -> tuple[list[Question], list[Question]]:
    """The questions to ask (the first ``limit``, in file order, as lm-eval's ``--limit``) and
    the pool of few-shot examples."""
    rows = load_split(chosen.source, chosen.split, data_dir=data_dir)
    asked = [chosen.to_question(i, row) for i, row in enumerate(rows[:limit] if limit else rows)]
    pool: list[Question] = []
    if shots and chosen.fewshot_split:
        pool = [
            chosen.to_question(i, row)
            for i, row in enumerate(load_split(chosen.source, chosen.fewshot_split, data_dir=data_dir))
        ]
    return asked, pool


def check_scorable(client: Client, model: str) -> None:
    """Refuse, before any question is asked, a model that cannot be scored by log-likelihood."""
    target = resolve(client.settings, model)
    missing = [op for op in ("tokenize", "logprobs") if not target.capabilities.offers(op)]
    if missing:
        raise InvalidRequestError(
            f"{model} ({target.provider.type} provider) shows no token log-probabilities, which "
            "multiple choice is scored by here; scoring chat-only models by generation is not built yet"
        )


async def evaluate(
    client: Client,
    models: list[str],
    task_names: list[str],
    *,
    limit: int | None = None,
    shots: int = 0,
    data_dir: Path | None = None,
    concurrency: int = 8,
    started: Callable[[str, str, int], None] | None = None,
    done: Callable[[Answered], None] | None = None,
) -> list[TaskResult]:
    """Every task on every model. Datasets and models are checked first, so a missing file or
    an unscorable model fails at once with one line, before anything is asked."""
    for model in models:
        check_scorable(client, model)
    chosen_tasks = {name: task(name) for name in task_names}
    loaded = {
        name: (chosen, *questions(chosen, limit=limit, shots=shots, data_dir=data_dir))
        for name, chosen in chosen_tasks.items()
    }
    results = []
    for model in models:
        for name, (chosen, asked, pool) in loaded.items():
            if started is not None:
                started(model, name, len(asked))
            answered = await answer(
                client, model, chosen, asked, pool, shots, concurrency=concurrency, done=done
            )
            results.append(TaskResult(model, name, LOGLIKELIHOOD, shots, chosen.metrics, answered))
    return results
