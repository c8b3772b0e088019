"""Making every stored run that used the old model again on the new one.

A compare run is made again from the store alone: its cases, parameters, system prompt, samples
and judge are all kept with it (:func:`weighbridge.compare.runner.rerun_options`), and only the
new model is asked. A run of image models is made again as one (:mod:`weighbridge.compare.images`)
with the options it was drawn with: each prompt's own size, seed, steps and count, the run's
for the rest, and its CLIP model where that folder is still there. An evaluation is made again
with the same tasks and setup (limit, shots, seed, data folder). Both are ordinary runs:
stored, listed by ``weighbridge runs``, and made of cached answers wherever the new model
already answered the same question, so revalidating twice asks nothing twice. The old model is
never asked anything: its side is read from its own run.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from weighbridge.client import Client
from weighbridge.compare import images, results
from weighbridge.compare.cases import PromptSet
from weighbridge.compare.check_types import TYPES
from weighbridge.compare.runner import choose_models, rerun_options
from weighbridge.compare.runner import run as compare_run
from weighbridge.errors import InvalidRequestError, WeighbridgeError
from weighbridge.eval import stored
from weighbridge.eval.run import evaluate, stored_setup
from weighbridge.revalidate.verdict import Revalidation, of_compare, of_eval
from weighbridge.store import runs


class Progress:
    """What a revalidation reports as it goes; the CLI prints it, tests may count it."""

    def rerunning(self, run: runs.RunRow) -> None:
        """The stored ``run`` is about to be made again on the new model."""


@dataclass(frozen=True)
class Skipped:
    """A stored run that could not be made again, and why."""

    run_id: str
    why: str


@dataclass(frozen=True)
class Report:
    old: str
    new: str
    rows: list[Revalidation] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


async def revalidate(
    client: Client,
    old: str,
    new: str,
    *,
    limit_runs: int | None = None,
    confirm_unsafe_code: bool = False,
    progress: Progress | None = None,
) -> Report:
    """Every stored run that used ``old`` (the newest ``limit_runs`` of them), made again on
    ``new``, each set beside the original. A run that cannot be made again (its dataset gone,
    a check that needs the run's other models) is reported as skipped and the others go on."""
    progress = progress or Progress()
    if old == new:
        raise InvalidRequestError(f"revalidating {old} with itself: name its replacement with --with")
    _, cannot = choose_models(client.settings, [new])  # an unknown name stops here
    if cannot:
        raise InvalidRequestError(f"{new} cannot run here: {cannot[new]}")
    with client.store.connection() as db:
        used = runs.runs_using(db, old)
    if not used:
        raise InvalidRequestError(
            f"no stored compare run or evaluation used {old}: 'weighbridge runs' lists them"
        )
    report = Report(old, new)
    for run in used[:limit_runs]:
        progress.rerunning(run)
        try:
            if stored.is_eval(run):
                report.rows.extend(await _eval(client, run, old, new, confirm_unsafe_code))
            else:
                report.rows.extend(await _compare(client, run, old, new))
        except WeighbridgeError as exc:
            report.skipped.append(Skipped(run.id, exc.message))
    return report


async def _compare(client: Client, run: runs.RunRow, old: str, new: str) -> list[Revalidation]:
    before = results.load(client.store, run.id)
    if any(TYPES[check.type].kind == "pairwise" for case in before.cases for check in case.checks):
        raise InvalidRequestError(
            "its pairwise checks weigh each answer against the run's other models' answers; "
            "run its prompt set with 'weighbridge compare' on those models and the new one"
        )
    prompt_set = PromptSet(
        source=run.source,
        description=f"revalidation of {run.id} ({old}) on {new}",
        task=run.task,  # the same prompts measure the same task
        cases=before.cases,
    )
    options = rerun_options(run, [new])
    if before.of_images:
        after_id = await images.run(client, prompt_set, options, _drawn_as(run))
    else:
        after_id = await compare_run(client, prompt_set, options)
    return of_compare(before, old, results.load(client.store, after_id), new)


def _drawn_as(run: runs.RunRow) -> images.ImageOptions:
    """The stored image run's options, without CLIP where its folder has gone: CLIP has no part
    in a picture's score, so the checks are still weighed (and the CLIP row says why it is not)."""
    drawing = images.ImageOptions.of_run(run)
    if drawing.clip is not None and not drawing.clip.is_dir():
        return replace(drawing, clip=None)
    return drawing


async def _eval(client: Client, run: runs.RunRow, old: str, new: str, confirm: bool) -> list[Revalidation]:
    before = stored.load(client.store, run.id)
    tasks = [result for result in before.results if result.model == old]
    after_id = await evaluate(
        client, [new], [t.task for t in tasks], stored_setup(run), confirm_unsafe_code=confirm
    )
    after = {result.task: result for result in stored.load(client.store, after_id).results}
    return [of_eval(task, run.id, after[task.task], after_id) for task in tasks]
