"""Running a prompt set across models: concurrent, limited per provider, cached, resumable.

Each (model, prompt, sample) is a cell. A cell is looked up by its content hash first
(:mod:`weighbridge.compare.cellkey`); a finished one from any earlier run is copied, so a
re-run, or a run resumed after Ctrl-C or a crash, calls the models only for what never
finished. Every answer is streamed (for the time to its first token) and written to the
store the moment it ends, before it is scored. A failed cell keeps its error and the others
go on; it is asked again by the next run. Pairwise checks need every model's answer to a
prompt, so they run last.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from weighbridge.client import Client
from weighbridge.compare import cellkey, judge, pairwise
from weighbridge.compare.cases import Case, PromptSet
from weighbridge.compare.check_types import TYPES
from weighbridge.compare.limits import Limits
from weighbridge.compare.scorers import Answer, score_pure
from weighbridge.config import Settings
from weighbridge.errors import InvalidRequestError, UnknownModelError, WeighbridgeError
from weighbridge.store import runs
from weighbridge.targets import Target, availability, resolve
from weighbridge.types import ChatRequest

T = TypeVar("T")

#: A stored run's parameters that no model is sent (see :func:`_around`).
_SYSTEM, _JUDGE = "system", "judge"


@dataclass(frozen=True)
class RunOptions:
    """What the command line adds to a prompt set; ``params`` override the set's options."""

    models: Sequence[str] = ()
    params: dict[str, Any] = field(default_factory=dict)
    system: str | None = None
    samples: int = 1
    concurrency: int | None = None
    use_cache: bool = True
    judge_model: str | None = None


class Progress:
    """What a runner reports as it goes; the CLI draws it, tests may count it."""

    def skipped(self, model: str, why: str) -> None:
        """A model that cannot run here, and what would make it run."""

    def started(self, run_id: str, totals: dict[str, int]) -> None:
        """The run exists; ``totals`` is cells per model."""

    def finished(self, cell: runs.CellRow) -> None:
        """One cell is answered (or failed, or came from the cache) and scored."""


@dataclass
class _Job:
    case: Case
    model: str
    sample: int
    request: ChatRequest
    target: Target
    hash: str


def choose_models(settings: Settings, names: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """The models that can run now, and for each that cannot, why (naming the env var to set).

    A name nobody knows is the user's typo and stops the run; a known model whose key is
    missing or whose server is down is skipped so the others still run.
    """
    runnable: list[str] = []
    skipped: dict[str, str] = {}
    for name in dict.fromkeys(names):
        _require_known(settings, name)
        ok, why = (True, "") if name in settings.routes else availability(settings, name)
        if ok:
            runnable.append(name)
        else:
            skipped[name] = why
    return runnable, skipped


def _require_known(settings: Settings, name: str) -> None:
    """Raise :class:`UnknownModelError` for a name that no catalog entry, provider or route
    defines; a known model that cannot run now passes (the caller says why)."""
    if name in settings.routes:
        return
    try:
        resolve(settings, name)
    except UnknownModelError:
        raise
    except WeighbridgeError:
        return


def check_judges(settings: Settings, prompt_set: PromptSet, default: str) -> None:
    """A judge model nobody knows is a typo: say so before any model is asked anything."""
    for case in prompt_set.cases:
        for check in case.checks:
            if TYPES[check.type].kind != "pure":
                _require_known(settings, check.model or default)


def _refuse_drawing(prompt_set: PromptSet) -> None:
    """A case's image options would be dropped without a word by a chat model: say so before any
    model is asked (a CSV column of that name is an option, not a variable)."""
    for case in prompt_set.cases:
        if case.drawing is not None:
            said = list(case.drawing.given())
            raise InvalidRequestError(
                f"prompt {case.id}: {', '.join(said)} {'are' if len(said) > 1 else 'is'} for image "
                "models and this run's models answer in text (a variable of that name goes under 'vars')"
            )


def messages_for(case: Case, system: str | None) -> list[dict[str, Any]]:
    """The case's messages with the system prompt in force: the command line's, else the
    case's (which the loader took from the test or the set); else the model's own default."""
    chosen = system or case.system
    messages = list(case.messages)
    if chosen is None:
        return messages
    rest = [m for m in messages if m.get("role") not in ("system", "developer")]
    if system is None and len(rest) < len(messages):
        return messages  # the case wrote its own system turn
    return [{"role": "system", "content": chosen}, *rest]


def run_sync(
    client: Client, prompt_set: PromptSet, options: RunOptions, progress: Progress | None = None
) -> str:
    """:func:`run` on an event loop of its own (the command line's way); Ctrl-C cancels it,
    which marks the run interrupted and keeps every finished cell, and raises KeyboardInterrupt."""
    return interruptible(client, lambda: run(client, prompt_set, options, progress))


def interruptible(client: Client, work: Callable[[], Awaitable[T]]) -> T:
    """``work()`` on an event loop of its own, cancelled by Ctrl-C (which then raises
    KeyboardInterrupt), the client's connections closed with the loop.

    The signal wakes the loop through its self-pipe (``add_signal_handler``): the kernel may hand
    it to any thread (a resolver's, the progress display's), and the handler asyncio installs by
    itself then waits for the loop's next event, which a slow answer can hold off for minutes."""

    async def main() -> T:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None  # main() is asyncio.run's task
        watching = threading.current_thread() is threading.main_thread()  # signals go there only
        if watching:
            loop.add_signal_handler(signal.SIGINT, task.cancel)
        try:
            return await work()
        finally:
            if watching:
                loop.remove_signal_handler(signal.SIGINT)
            await client.aclose()  # this loop ends with the work: its connections go with it

    try:
        return asyncio.run(main())
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None


async def run(
    client: Client, prompt_set: PromptSet, options: RunOptions, progress: Progress | None = None
) -> str:
    """Run the set; returns the run id. The run is in the store from the start."""
    progress = progress or Progress()
    _refuse_drawing(prompt_set)
    models, skipped = runnable(client, prompt_set, options, progress)
    judge_model = options.judge_model or client.settings.default_model
    check_judges(client.settings, prompt_set, judge_model)
    params = {**prompt_set.options.params(), **options.params}
    limits = limits_of(options)
    jobs = await _jobs(client, prompt_set, options, models, params)
    row = new_run(
        prompt_set, options, models, skipped, {**params, **_around(options, prompt_set, judge_model)}
    )
    asker = judge.Asker(client, limits, use_cache=options.use_cache)

    async def work() -> None:
        cells = await gather(
            _cell(client, job, row.id, limits, asker, judge_model, options, progress) for job in jobs
        )
        await _pairwise(client, prompt_set, cells, asker, judge_model)

    await recorded(client, row, progress, work)
    return row.id


def runnable(
    client: Client, prompt_set: PromptSet, options: RunOptions, progress: Progress
) -> tuple[list[str], dict[str, str]]:
    """The models the run asks (the command line's, else the set's, else the default) that can
    run here, and why each other one cannot; none that can is the user's to fix."""
    if options.samples < 1:
        raise InvalidRequestError("--samples must be at least 1")
    models, skipped = choose_models(client.settings, model_names(client.settings, prompt_set, options))
    for name, why in skipped.items():
        progress.skipped(name, why)
    if not models:
        raise InvalidRequestError(
            "no model can run here: " + "; ".join(f"{m}: {w}" for m, w in skipped.items())
        )
    return models, skipped


def model_names(settings: Settings, prompt_set: PromptSet, options: RunOptions) -> list[str]:
    """The models named for the run: the command line's, else the set's, else the default."""
    return list(options.models) or prompt_set.models or [settings.default_model]


def limits_of(options: RunOptions) -> Limits:
    try:
        return Limits(options.concurrency)
    except ValueError as exc:
        raise InvalidRequestError(f"--concurrency: {exc}") from None


def new_run(
    prompt_set: PromptSet,
    options: RunOptions,
    models: list[str],
    skipped: dict[str, str],
    params: dict[str, Any],
) -> runs.RunRow:
    return runs.RunRow(
        id=uuid.uuid4().hex[:12],
        created_at=runs.now(),
        status="running",
        source=prompt_set.source,
        description=prompt_set.description,
        task=prompt_set.task,
        models=models,
        skipped=skipped,
        params=params,
        samples=options.samples,
        cases=[c.model_dump(mode="json") for c in prompt_set.cases],
        owner=runs.this_process(),
    )


async def recorded(
    client: Client, row: runs.RunRow, progress: Progress, work: Callable[[], Awaitable[None]]
) -> None:
    """``work()`` inside the stored run ``row``: the run is in the store before any cell, and
    ends complete, or interrupted when ``work`` raises or is cancelled."""
    with client.store.connection() as db:
        runs.create_run(db, row)
    progress.started(row.id, {m: len(row.cases) * row.samples for m in row.models})
    status = "interrupted"
    try:
        await work()
        status = "complete"
    finally:
        with client.store.connection() as db:
            runs.finish_run(db, row.id, status)


async def gather(cells: Iterable[Coroutine[Any, Any, runs.CellRow]]) -> list[runs.CellRow]:
    """Every cell, concurrently; the first failure is raised alone (one line for the user, as
    for any other error) and cancels the rest."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(cell) for cell in cells]
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]


def _around(options: RunOptions, prompt_set: PromptSet, judge_model: str) -> dict[str, Any]:
    """What the command line added around the models' parameters (the system prompt, the judge
    of checks that name none), stored with them so the run can be made again from the store."""
    added: dict[str, Any] = {_SYSTEM: options.system} if options.system else {}
    if any(TYPES[check.type].kind != "pure" for case in prompt_set.cases for check in case.checks):
        added[_JUDGE] = judge_model
    return added


def rerun_options(run: runs.RunRow, models: Sequence[str]) -> RunOptions:
    """The options that ask ``models`` what the stored ``run`` asked its own models: the same
    parameters, system prompt, samples and judge (the default model for a run stored without
    one), reusing every answer already stored."""
    params = {k: v for k, v in run.params.items() if k not in (_SYSTEM, _JUDGE)}
    return RunOptions(
        models=models,
        params=params,
        system=run.params.get(_SYSTEM),
        samples=run.samples,
        judge_model=run.params.get(_JUDGE),
    )


async def _jobs(
    client: Client, prompt_set: PromptSet, options: RunOptions, models: list[str], params: dict[str, Any]
) -> list[_Job]:
    """Every cell to fill, each with its request as the provider will see it and its hash."""
    identities = cellkey.Identities(client.store)
    jobs = []
    for case in prompt_set.cases:
        messages = messages_for(case, options.system)
        for model in models:
            request = client.request(messages, model, dict(params))
            call = client.planner.calls(request, "compare")[0]
            target = call.target
            weights = await identities.of(target)
            for sample in range(options.samples):
                key = cellkey.cell_hash(target.model_id, weights, call.request, sample)
                jobs.append(_Job(case, model, sample, request, target, key))
    return jobs


async def _cell(
    client: Client,
    job: _Job,
    run_id: str,
    limits: Limits,
    asker: judge.Asker,
    judge_model: str,
    options: RunOptions,
    progress: Progress,
) -> runs.CellRow:
    cell = reused(client, job.hash, run_id, job.model, job.case.id, job.sample) if options.use_cache else None
    if cell is None:
        async with limits.gate(job.target):
            cell = await _ask(client, job, run_id)
    with client.store.connection() as db:
        runs.save_cell(db, cell)
    await _score(cell, job.case, asker, judge_model)
    with client.store.connection() as db:
        runs.save_scores(db, cell)
    progress.finished(cell)
    return cell


def reused(
    client: Client, key: str, run_id: str, model: str, prompt_id: str, sample: int
) -> runs.CellRow | None:
    """The newest finished cell with the content hash ``key``, from any run, copied into this
    one (its scores are made again: the checks may have changed since)."""
    with client.store.connection() as db:
        found = runs.finished_cell(db, key)
    if found is None:
        return None
    return replace(
        found,
        run_id=run_id,
        model=model,
        prompt_id=prompt_id,
        sample=sample,
        created_at=runs.now(),
        cached=True,
        scores=[],
        judgements=[],
    )


async def _ask(client: Client, job: _Job, run_id: str) -> runs.CellRow:
    cell = runs.CellRow(
        run_id=run_id, model=job.model, prompt_id=job.case.id, sample=job.sample, hash=job.hash
    )
    stream = client.asend_stream(job.request, source="compare")
    try:
        async for _ in stream:
            pass
    except WeighbridgeError as exc:
        cell.error = exc.message
        cell.cost_usd = stream.cost_usd
        return cell
    finally:
        await stream.aclose()
    response = stream.response
    assert response is not None  # a stream that ended without error has its response
    cell.inference_id = response.id
    cell.output = response.content
    cell.finish_reason = response.finish_reason
    cell.upstream_model = response.upstream_model
    cell.weight_sha256 = response.weight_sha256
    cell.prompt_tokens = response.usage.prompt_tokens
    cell.completion_tokens = response.usage.completion_tokens
    cell.latency_s = response.latency_s
    cell.ttft_s = response.ttft_s
    cell.cost_usd = response.cost_usd
    cell.cost_basis = response.cost_basis
    return cell


def answer_of(cell: runs.CellRow) -> Answer:
    return Answer(
        text=cell.output or "",
        model=cell.model,
        latency_s=cell.latency_s,
        ttft_s=cell.ttft_s,
        cost_usd=cell.cost_usd,
    )


async def _score(cell: runs.CellRow, case: Case, asker: judge.Asker, judge_model: str) -> None:
    """Every check but pairwise, in the order the file lists them."""
    if not cell.ok:
        return
    answer = answer_of(cell)
    for check in case.checks:
        kind = TYPES[check.type].kind
        if kind == "pure":
            cell.scores.append(score_pure(check, answer, case).model_dump())
        elif kind == "judge":
            score, records = await judge.judge(check, answer, case, asker, judge_model)
            cell.scores.append(score.model_dump())
            cell.judgements.extend(records)


async def _pairwise(
    client: Client, prompt_set: PromptSet, cells: list[runs.CellRow], asker: judge.Asker, judge_model: str
) -> None:
    by_prompt: dict[tuple[str, int], dict[str, runs.CellRow]] = {}
    for cell in cells:
        if cell.ok:
            by_prompt.setdefault((cell.prompt_id, cell.sample), {})[cell.model] = cell
    work = []
    for case in prompt_set.cases:
        for check in (c for c in case.checks if TYPES[c.type].kind == "pairwise"):
            for (prompt_id, _), answered in by_prompt.items():
                if prompt_id == case.id:
                    work.append((case, check, answered))

    async def one(case: Case, check: Any, answered: dict[str, runs.CellRow]) -> None:
        texts = {model: cell.output or "" for model, cell in answered.items()}
        results = await pairwise.compare(check, case, texts, asker, judge_model)
        for model, (score, records) in results.items():
            answered[model].scores.append(score.model_dump())
            answered[model].judgements.extend(records)

    await asyncio.gather(*(one(*item) for item in work))
    touched = {id(c): c for _, _, answered in work for c in answered.values()}
    with client.store.connection() as db:
        for cell in touched.values():
            runs.save_scores(db, cell)
