"""``weighbridge eval``: standard benchmarks on models, from datasets on local disk, stored as a
run that ``weighbridge show`` shows again and a second ``eval`` resumes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from weighbridge.cli import context

if TYPE_CHECKING:
    from rich.progress import Progress as Bars
    from rich.progress import TaskID

    from weighbridge.config import Settings
    from weighbridge.eval.run import Progress
    from weighbridge.eval.stored import EvalRun

_path = click.Path(dir_okay=False, path_type=Path)


@click.command(name="eval")
@click.option(
    "-m", "--model", "models", multiple=True, required=True, help="A model to evaluate (repeatable)."
)
@click.option(
    "-t",
    "--task",
    "tasks",
    multiple=True,
    required=True,
    help="mmlu, arc_easy, arc_challenge, hellaswag, gsm8k, humaneval[_64][_instruct] (repeatable).",
)
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N items of each task.")
@click.option(
    "--shots",
    type=click.IntRange(min=0),
    help="Few-shot examples per question (default: the task's own, as in lm-eval: gsm8k 5, others 0).",
)
@click.option(
    "--seed",
    type=int,
    default=1234,
    show_default=True,
    help="Draws the few-shot examples where a task samples them (lm-eval's --fewshot_seed).",
)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the datasets are (default: the Hugging Face caches; nothing is downloaded).",
)
@click.option(
    "--concurrency", type=click.IntRange(min=1), default=8, show_default=True, help="Items asked at once."
)
@click.option(
    "--confirm-unsafe-code",
    is_flag=True,
    help="Allow tasks that run the code a model writes (humaneval), in a sandbox.",
)
@click.option("--no-cache", is_flag=True, help="Ask everything again, even what an earlier run answered.")
@click.option("--by-group", is_flag=True, help="Also each group's score (MMLU's subjects).")
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON instead of a table.")
@click.option("--html", "html_path", type=_path, help="Write a self-contained HTML report.")
@click.option("--csv", "csv_path", type=_path, help="Write one CSV row per item and metric.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def eval_command(
    ctx: click.Context,
    models: tuple[str, ...],
    tasks: tuple[str, ...],
    limit: int | None,
    shots: int | None,
    seed: int,
    data_dir: Path | None,
    concurrency: int,
    confirm_unsafe_code: bool,
    no_cache: bool,
    by_group: bool,
    as_json: bool,
    html_path: Path | None,
    csv_path: Path | None,
    quiet: bool,
) -> None:
    """Score models on standard benchmarks as lm-evaluation-harness scores them: multiple choice
    by the log-likelihood of each choice (by the answer a chat-only model writes), maths and code
    by generation; the mean with its 95% interval, beside the catalog's published figure.

    Every answer is stored as it comes: after Ctrl-C or a crash, the same command resumes and
    asks nothing twice."""
    from rich.console import Console

    from weighbridge.compare.runner import interruptible
    from weighbridge.eval import stored
    from weighbridge.eval.run import evaluate
    from weighbridge.eval.task import Setup

    client = context.client(ctx, source="eval")
    setup = Setup(limit=limit, shots=shots, seed=seed, data_dir=data_dir)
    err = Console(stderr=True)
    bars = _bars(err, disable=quiet or as_json or not err.is_terminal)
    try:
        with bars:
            run_id = interruptible(
                client,
                lambda: evaluate(
                    client,
                    models,
                    tasks,
                    setup,
                    concurrency=concurrency,
                    use_cache=not no_cache,
                    confirm_unsafe_code=confirm_unsafe_code,
                    progress=_progress(bars),
                ),
            )
    except KeyboardInterrupt:
        err.print("[yellow]The finished answers are stored: run the same command again to resume.[/]")
        raise
    run = stored.load(client.store, run_id)
    views(context.settings(ctx), run, by_group, as_json, html_path, csv_path)
    failed = [(r, o) for r in run.results for o in r.outcomes if o.error is not None]
    if failed:
        result, first = failed[0]
        err.print(
            f"{len(failed)} item(s) got no answer ({result.model} {result.task} {first.id}: {first.error}); "
            "their scores leave them out: run the same command again to ask them again",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        ctx.exit(1)


def views(
    settings: Settings,
    run: EvalRun,
    by_group: bool,
    as_json: bool,
    html_path: Path | None,
    csv_path: Path | None,
    json_path: Path | None = None,
) -> None:
    """What ``eval`` prints when it ends and ``show`` prints later: the table (or JSON), and the
    files asked for."""
    from weighbridge.eval import report

    if as_json:
        click.echo(json.dumps(report.as_dict(run, settings), indent=2))
    else:
        report.print_table(run, settings, by_group=by_group)
    written = []
    if html_path is not None:
        html_path.write_text(report.render_html(run, settings), encoding="utf-8")
        written.append(str(html_path))
    if json_path is not None:
        report.write_json(json_path, run, settings)
        written.append(str(json_path))
    if csv_path is not None:
        report.write_csv(csv_path, run)
        written.append(str(csv_path))
    if written:
        click.echo("wrote " + ", ".join(written), err=True)


def _bars(console: object, *, disable: bool) -> Bars:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,  # type: ignore[arg-type]
        disable=disable,
    )


def _progress(bars: Bars) -> Progress:
    """A bar per model and task; items copied from the store start it, so the ETA counts only
    what is still to ask."""
    from weighbridge.eval.run import Progress
    from weighbridge.eval.stored import Outcome, Plan

    class Drawn(Progress):
        def __init__(self) -> None:
            self.ids: dict[tuple[str, str], TaskID] = {}

        def task_started(self, plan: Plan, already: int) -> None:
            label = f"{plan.model} {plan.task} ({plan.method})"
            self.ids[plan.model, plan.task] = bars.add_task(label, total=plan.items, completed=already)

        def finished(self, plan: Plan, outcome: Outcome) -> None:
            if not outcome.cached:  # counted when the bar started
                bars.advance(self.ids[plan.model, plan.task])

    return Drawn()
