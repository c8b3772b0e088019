"""Compare runs of image models: each prompt asked of each model for pictures.

A run is a run of chat models or of image models, never both: their answers are scored by
different means and a report cannot set a picture beside a text. An image run is stored as a
chat run is (:mod:`weighbridge.store.runs`), its kind in the run's parameters
(:data:`~weighbridge.compare.results.MODALITY`), so ``weighbridge show`` and the exports read
it from the store alone. A cell's ``output`` is :class:`Made` as JSON: each picture's sha256
and what made it, never the bytes. The pictures are kept on disk by their sha256 whatever the
log's retention, because the report embeds them.

Each prompt's pictures are asked with the run's options (the command line's) overridden by
the prompt's own (:class:`~weighbridge.compare.cases.Drawing`). Cells are cached and resumed
exactly as chat cells are: the content hash (:mod:`weighbridge.compare.cellkey`) covers the
image request as sent (size, seed, steps, count, negative prompt, whichever of the two said
them), so the same prompt asked of the same weights the same way is made once. A cached cell
whose pictures are no longer on disk is made again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from weighbridge.client import Client
from weighbridge.compare import cellkey, judge, runner
from weighbridge.compare.cases import Case, PromptSet
from weighbridge.compare.image_scores import SCORED_TYPES, Clip, Scorer
from weighbridge.compare.limits import Limits
from weighbridge.compare.results import MODALITY
from weighbridge.config import Settings
from weighbridge.errors import InvalidRequestError, WeighbridgeError
from weighbridge.store import runs
from weighbridge.store.pictures import Pictures
from weighbridge.targets import Target, resolve
from weighbridge.types import GeneratedImage, ImageRequest, validation_message

#: The run parameter naming the CLIP model's folder, for a run scored by one.
_CLIP = "clip"


@dataclass(frozen=True)
class ImageOptions:
    """What the command line asks of every prompt's pictures, unless the prompt says its own
    (None: the model's default); ``n`` pictures per prompt, model and sample; ``clip``: a CLIP
    model folder that scores each picture."""

    size: str | None = None
    seed: int | None = None
    steps: int | None = None
    n: int = 1
    clip: Path | None = None

    @classmethod
    def of_run(cls, run: runs.RunRow) -> ImageOptions:
        """The options the stored image ``run`` was made with, read back from its parameters
        (:func:`run` keeps the seed it used, the command line's or the prompt set's), so that it
        can be made again alike."""
        params = run.params
        clip = params.get(_CLIP)
        return cls(
            size=params.get("size"),
            seed=params.get("seed"),
            steps=params.get("steps"),
            n=params.get("n", 1),
            clip=Path(clip) if clip is not None else None,
        )


@dataclass(frozen=True)
class Made:
    """What one cell made, as its ``output`` keeps it."""

    #: Each picture as ``{"sha256": ..., "format": ...}``, in the order the model gave them.
    pictures: list[dict[str, str]] = field(default_factory=list)
    seed: int | None = None
    steps: int | None = None
    size: str | None = None

    def output(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def of(cls, cell: runs.CellRow) -> Made:
        return cls(**json.loads(cell.output or "{}"))


def of_images(settings: Settings, names: list[str]) -> bool:
    """Whether the models named make pictures; a mix of image and chat models is refused."""
    makes = {name: _makes_pictures(settings, name) for name in names}
    pictures = [n for n, yes in makes.items() if yes]
    if pictures and len(pictures) < len(makes):
        chats = [n for n, yes in makes.items() if not yes]
        raise InvalidRequestError(
            f"{', '.join(pictures)} make{'s' if len(pictures) == 1 else ''} images and "
            f"{', '.join(chats)} answer{'s' if len(chats) == 1 else ''} in text: a run compares "
            "one kind, so compare the image models and the chat models in runs of their own"
        )
    return bool(pictures)


def _makes_pictures(settings: Settings, name: str) -> bool:
    if name in settings.routes:
        return False  # routes serve chats
    entry = settings.catalog.models.get(name)
    if entry is not None:
        return entry.modality == "image"
    try:
        target = resolve(settings, name)
    except WeighbridgeError:
        return False  # the runner says what is wrong with it
    return target.capabilities.offers("images") and not target.capabilities.offers("chat")


def run_sync(
    client: Client,
    prompt_set: PromptSet,
    options: runner.RunOptions,
    pictures: ImageOptions,
    progress: runner.Progress | None = None,
) -> str:
    """:func:`run` as :func:`weighbridge.compare.runner.run_sync` runs a chat run (Ctrl-C keeps
    every finished cell)."""
    return runner.interruptible(client, lambda: run(client, prompt_set, options, pictures, progress))


async def run(
    client: Client,
    prompt_set: PromptSet,
    options: runner.RunOptions,
    pictures: ImageOptions,
    progress: runner.Progress | None = None,
) -> str:
    """Ask every image model for pictures of every prompt, score them; returns the run id."""
    progress = progress or runner.Progress()
    _require_picture_checks(prompt_set)
    models, skipped = runner.runnable(client, prompt_set, options, progress)
    judge_model = options.judge_model or client.settings.default_model
    runner.check_judges(client.settings, prompt_set, judge_model)
    limits = runner.limits_of(options)
    clip = await asyncio.to_thread(Clip.load, pictures.clip) if pictures.clip is not None else None
    seed = pictures.seed if pictures.seed is not None else prompt_set.options.seed
    asked = {"size": pictures.size, "seed": seed, "steps": pictures.steps, "n": pictures.n}
    jobs = await _jobs(client, prompt_set, options, models, asked)
    params: dict[str, Any] = {MODALITY: "image", **{k: v for k, v in asked.items() if v is not None}}
    if pictures.clip is not None:  # absolute, so the run can be made again from anywhere
        params[_CLIP] = str(pictures.clip.resolve())
    if any(check.type == "judge" for case in prompt_set.cases for check in case.checks):
        params["judge"] = judge_model
    row = runner.new_run(prompt_set, options, models, skipped, params)
    # the local pipelines and CLIP take turns on this machine: two at once only slow each other
    # down, and the latency each picture is reported with would count the other's work
    machine = asyncio.Lock()
    scorer = Scorer(judge.Asker(client, limits, use_cache=options.use_cache), judge_model, clip, machine)
    kept = Pictures(client.settings.home)

    async def work() -> None:
        await runner.gather(
            _cell(client, kept, job, row.id, limits, machine, scorer, options, progress) for job in jobs
        )

    await runner.recorded(client, row, progress, work)
    return row.id


def _require_picture_checks(prompt_set: PromptSet) -> None:
    """A text check on a picture could never be made: say so before any model is asked."""
    for case in prompt_set.cases:
        for check in case.checks:
            if check.type not in SCORED_TYPES:
                raise InvalidRequestError(
                    f"prompt {case.id}: a '{check.type}' check scores text; a picture is scored by "
                    f"{', '.join(sorted(SCORED_TYPES))} checks (and --clip)"
                )


@dataclass
class _Job:
    case: Case
    model: str
    sample: int
    request: ImageRequest
    target: Target
    hash: str


async def _jobs(
    client: Client,
    prompt_set: PromptSet,
    options: runner.RunOptions,
    models: list[str],
    asked: dict[str, Any],
) -> list[_Job]:
    """Every cell to fill with its request and content hash: the run's options, overridden by the
    case's own. Samples of a seeded prompt take the seeds after it, so they differ as unseeded
    samples do."""
    identities = cellkey.Identities(client.store)
    jobs = []
    for case in prompt_set.cases:
        wanted = {**asked, **(case.drawing.given() if case.drawing is not None else {})}
        for model in models:
            for sample in range(options.samples):
                seed = wanted["seed"] + sample if wanted["seed"] is not None else None
                try:
                    request = ImageRequest(model=model, prompt=case.prompt_text(), **{**wanted, "seed": seed})
                except ValidationError as exc:
                    raise InvalidRequestError(f"prompt {case.id}: {validation_message(exc)}") from None
                call = client.planner.direct(request, "images", "compare")
                target = call.target
                key = cellkey.cell_hash(target.model_id, await identities.of(target), call.request, sample)
                jobs.append(_Job(case, model, sample, request, target, key))
    return jobs


async def _cell(
    client: Client,
    kept: Pictures,
    job: _Job,
    run_id: str,
    limits: Limits,
    machine: asyncio.Lock,
    scorer: Scorer,
    options: runner.RunOptions,
    progress: runner.Progress,
) -> runs.CellRow:
    found = (
        runner.reused(client, job.hash, run_id, job.model, job.case.id, job.sample)
        if options.use_cache
        else None
    )
    images = await asyncio.to_thread(read, kept, found) if found is not None else None
    if found is not None and images is not None:
        cell = found
    else:
        local = machine if job.target.weight_file is not None else contextlib.nullcontext()
        async with limits.gate(job.target), local:
            cell, images = await _make(client, kept, job, run_id)
    with client.store.connection() as db:
        runs.save_cell(db, cell)
    await scorer.score(cell, job.case, images)
    with client.store.connection() as db:
        runs.save_scores(db, cell)
    progress.finished(cell)
    return cell


async def _make(
    client: Client, kept: Pictures, job: _Job, run_id: str
) -> tuple[runs.CellRow, list[GeneratedImage]]:
    cell = runs.CellRow(
        run_id=run_id, model=job.model, prompt_id=job.case.id, sample=job.sample, hash=job.hash
    )
    try:
        response = await client.agenerate_images(job.request, source="compare")
    except WeighbridgeError as exc:
        cell.error = exc.message
        return cell, []
    await asyncio.to_thread(lambda: [kept.keep(image) for image in response.images])
    made = Made(
        pictures=[{"sha256": image.sha256, "format": image.format} for image in response.images],
        seed=response.seed if response.seed is not None else job.request.seed,
        steps=response.steps if response.steps is not None else job.request.steps,
        size=response.size if response.size is not None else job.request.size,
    )
    cell.inference_id = response.id
    cell.output = made.output()
    cell.upstream_model = response.upstream_model
    cell.weight_sha256 = response.weight_sha256
    cell.prompt_tokens = response.usage.prompt_tokens
    cell.completion_tokens = response.usage.completion_tokens
    cell.latency_s = response.latency_s
    cell.cost_usd = response.cost_usd
    cell.cost_basis = response.cost_basis
    return cell, response.images


def read(kept: Pictures, cell: runs.CellRow) -> list[GeneratedImage] | None:
    """The cell's pictures from disk, in order; None when any is no longer there."""
    images = []
    for picture in Made.of(cell).pictures:
        path = kept.find(f"{picture['sha256']}.{picture['format']}")
        if path is None:
            return None
        images.append(GeneratedImage.model_validate({"data": path.read_bytes(), "format": picture["format"]}))
    return images
