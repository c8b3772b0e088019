"""One evaluation: tasks on models, from datasets on local disk, scored as lm-eval scores them,
stored as a run as it goes.

Everything that can fail at once fails before the first question: an unknown task or model, a
dataset not on disk, a model no method can score. Then each model takes each task in turn, many
items at a time. An item whose answer is already stored (from any run, on the same weights, asked
the same) is copied, not asked again, so a run stopped by Ctrl-C or ``kill -9`` resumes by being
run again; every other answer is written to the store the moment it comes back, before scoring.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from weighbridge.client import Client
from weighbridge.compare import cellkey
from weighbridge.errors import InvalidRequestError, WeighbridgeError
from weighbridge.eval import stored
from weighbridge.eval.humaneval import require_confirmation
from weighbridge.eval.registry import task
from weighbridge.eval.stored import Outcome, Plan
from weighbridge.eval.task import Item, Setup, Task
from weighbridge.hashing import content_hash
from weighbridge.store import runs
from weighbridge.targets import Target, resolve

#: Bumped when what a stored record means changes, so older answers are asked again.
_VERSION = 1


class Progress:
    """What an evaluation reports as it goes; the CLI draws it, tests may count it."""

    def started(self, run_id: str) -> None:
        """The run exists in the store."""

    def task_started(self, plan: Plan, already: int) -> None:
        """A model starts a task; ``already`` of its items come from the store."""

    def finished(self, plan: Plan, outcome: Outcome) -> None:
        """One item is answered (or failed) and scored."""


@dataclass(frozen=True)
class _Work:
    plan: Plan
    task: Task
    target: Target
    items: list[Item]


async def evaluate(
    client: Client,
    models: Sequence[str],
    task_names: Sequence[str],
    setup: Setup,
    *,
    concurrency: int = 8,
    use_cache: bool = True,
    confirm_unsafe_code: bool = False,
    progress: Progress | None = None,
) -> str:
    """Every task on every model; returns the run's id (:func:`stored.load` reads it back).
    A task that runs the code a model writes (HumanEval) needs ``confirm_unsafe_code``."""
    progress = progress or Progress()
    if concurrency < 1:
        raise InvalidRequestError("--concurrency must be at least 1")
    chosen = {name: task(name) for name in dict.fromkeys(task_names)}
    if any(found.unsafe_code for found in chosen.values()):
        require_confirmation(confirm_unsafe_code)
    work = _plan(client, list(dict.fromkeys(models)), chosen, setup)
    run_id = uuid.uuid4().hex[:12]
    row = stored.new_run(run_id, list(dict.fromkeys(models)), _setup_dict(setup), [w.plan for w in work])
    with client.store.connection() as db:
        runs.create_run(db, row)
    progress.started(run_id)
    status = "interrupted"
    try:
        for one in work:
            await _run_task(client, run_id, one, concurrency, use_cache, progress)
        status = "complete"
    finally:
        with client.store.connection() as db:
            runs.finish_run(db, run_id, status)
    return run_id


def _plan(client: Client, models: list[str], chosen: dict[str, Task], setup: Setup) -> list[_Work]:
    """Each model on each task, with its method and its items: every check made here."""
    work = []
    for model in models:
        target = resolve(client.settings, model)
        if target.entry.modality != "chat":
            raise InvalidRequestError(f"{model} is an {target.entry.modality} model: eval tasks score text")
        for name, found in chosen.items():
            try:
                method = found.method(target.capabilities)
            except InvalidRequestError as exc:
                raise InvalidRequestError(f"{model} cannot be scored on {name}: {exc.message}") from None
            items = found.items(setup, method)
            plan = Plan(model, name, method, found.shots(setup), found.metrics(method), len(items))
            work.append(_Work(plan, found, target, items))
    return work


async def _run_task(
    client: Client, run_id: str, work: _Work, concurrency: int, use_cache: bool, progress: Progress
) -> None:
    identity = await cellkey.identity(client.store, work.target)
    hashes = [_hash(work, identity, item) for item in work.items]
    found: dict[str, runs.CellRow] = {}
    if use_cache:
        with client.store.connection() as db:
            for key in hashes:
                cell = runs.finished_cell(db, key)
                if cell is not None:
                    found[key] = cell
    progress.task_started(work.plan, len(found))
    gate = asyncio.Semaphore(concurrency)
    tally = _Tally()

    async def one(item: Item, key: str) -> None:
        earlier = found.get(key)
        if earlier is not None:
            kept = stored.outcome(earlier, item.id)
            record, values = kept.record, kept.values
            if set(values) != set(work.plan.metrics):  # stopped between its answer and its score
                values = await asyncio.to_thread(work.task.score, item, record)
            outcome = Outcome(item.id, item.group, record, values, cached=True)
            with client.store.connection() as db:
                runs.save_cell(db, stored.cell(run_id, work.plan, outcome, key, identity))
        else:
            async with gate:
                outcome = await _ask(client, run_id, work, item, key, identity)
        tally.count(work.plan, outcome)
        progress.finished(work.plan, outcome)

    try:
        async with asyncio.TaskGroup() as group:
            for item, key in zip(work.items, hashes, strict=True):
                group.create_task(one(item, key))
    except BaseExceptionGroup as failed:  # one line for the user, as for any other error
        raise failed.exceptions[0] from None


class _Tally:
    """Stops a task whose first answers all fail (a model that is down, a key refused): the
    same error for every item tells nothing more, and the run resumes once it is fixed. A
    failure among answers is kept with its item, which the next run asks again."""

    FIRST = 3

    def __init__(self) -> None:
        self.answered = self.failed = 0

    def count(self, plan: Plan, outcome: Outcome) -> None:
        if outcome.error is None:
            self.answered += 1
            return
        self.failed += 1
        if not self.answered and self.failed >= min(self.FIRST, plan.items):
            raise WeighbridgeError(
                f"{plan.model} on {plan.task}: the first {self.failed} items failed: {outcome.error}"
            )


async def _ask(client: Client, run_id: str, work: _Work, item: Item, key: str, identity: str) -> Outcome:
    """Ask, store the record at once, then score and store the scores."""
    try:
        record = await work.task.ask(client, work.plan.model, item)
    except WeighbridgeError as exc:
        failed = Outcome(item.id, item.group, {}, {}, error=exc.message)
        with client.store.connection() as db:
            runs.save_cell(db, stored.cell(run_id, work.plan, failed, key, identity))
        return failed
    answered = Outcome(item.id, item.group, record, {})
    with client.store.connection() as db:
        runs.save_cell(db, stored.cell(run_id, work.plan, answered, key, identity))
    values = await asyncio.to_thread(work.task.score, item, record)  # may run generated code
    scored = Outcome(item.id, item.group, record, values)
    with client.store.connection() as db:
        runs.save_cell(db, stored.cell(run_id, work.plan, scored, key, identity))
    return scored


def _hash(work: _Work, identity: str, item: Item) -> str:
    return content_hash(
        {
            "v": _VERSION,
            "model": work.target.model_id,
            "weights": identity,
            "task": work.plan.task,
            "method": item.method,
            "ask": item.ask,
        }
    )


def _setup_dict(setup: Setup) -> dict[str, object]:
    data = asdict(setup)
    data["data_dir"] = str(setup.data_dir) if setup.data_dir is not None else None
    return data


def stored_setup(run: runs.RunRow) -> Setup:
    """The setup a stored evaluation ran with (as :func:`_setup_dict` kept it), to run it again."""
    data = dict(run.params["eval"]["setup"])
    folder = data.pop("data_dir")
    return Setup(**data, data_dir=Path(folder) if folder is not None else None)
