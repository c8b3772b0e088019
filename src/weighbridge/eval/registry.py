"""Every task ``weighbridge eval`` knows, by the name lm-evaluation-harness gives it."""

from __future__ import annotations

from weighbridge.errors import InvalidRequestError
from weighbridge.eval.gsm8k import GSM8K
from weighbridge.eval.humaneval import HUMANEVAL_TASKS
from weighbridge.eval.task import Task
from weighbridge.eval.tasks import MULTIPLE_CHOICE

TASKS: dict[str, Task] = {
    **MULTIPLE_CHOICE,
    **HUMANEVAL_TASKS,
    "gsm8k": GSM8K(),
}


def task(name: str) -> Task:
    found = TASKS.get(name)
    if found is None:
        raise InvalidRequestError(f"unknown task '{name}': the tasks are {', '.join(sorted(TASKS))}")
    return found
