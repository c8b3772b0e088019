"""``weighbridge eval``: standard benchmarks on models, from datasets on local disk."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from weighbridge.cli import context

if TYPE_CHECKING:
    from weighbridge.eval.run import TaskResult


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
    help="mmlu, arc_easy, arc_challenge, hellaswag (repeatable).",
)
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N questions of each task.")
@click.option(
    "--shots",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Few-shot examples per question.",
)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the datasets are (default: the Hugging Face caches; nothing is downloaded).",
)
@click.option("--by-group", is_flag=True, help="Also each group's score (MMLU's subjects).")
@click.option("--json", "as_json", is_flag=True, help="The results as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def eval_command(
    ctx: click.Context,
    models: tuple[str, ...],
    tasks: tuple[str, ...],
    limit: int | None,
    shots: int,
    data_dir: Path | None,
    by_group: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Score models on standard benchmarks as lm-evaluation-harness scores them: multiple choice
    by the log-likelihood of each choice, with the mean and its 95% interval."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

    from weighbridge.eval.run import evaluate

    client = context.client(ctx, source="eval")
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        disable=quiet or as_json,
    )
    bars: dict[str, TaskID] = {}

    def started(model: str, task: str, total: int) -> None:
        bars["current"] = progress.add_task(f"{model} {task}", total=total)

    async def run() -> list[TaskResult]:
        try:
            return await evaluate(
                client,
                list(models),
                list(tasks),
                limit=limit,
                shots=shots,
                data_dir=data_dir,
                started=started,
                done=lambda _: progress.advance(bars["current"]),
            )
        finally:
            await client.aclose()

    with progress:
        results = asyncio.run(run())
    if as_json:
        click.echo(json.dumps([_as_dict(result) for result in results], indent=2))
        return
    _table(results, by_group)


def _rows(result: TaskResult, by_group: bool) -> list[tuple[str, str, int, float, float, float]]:
    out = []
    for metric in result.metrics:
        for group, score in sorted(result.scores(metric).items()):
            if group and not by_group:
                continue
            low, high = score.interval
            out.append((group or "all", metric, score.n, score.mean, low, high))
    return out


def _table(results: list[TaskResult], by_group: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(show_edge=False)
    for column in ("model", "task", "group", "method", "shots", "metric", "n", "score", "95% interval"):
        table.add_column(column, justify="right" if column in ("shots", "n", "score") else "left")
    for result in results:
        for group, metric, n, mean, low, high in _rows(result, by_group):
            table.add_row(
                result.model, result.task, group, result.method, str(result.shots), metric, str(n),
                f"{mean:.3f}", f"{low:.3f}-{high:.3f}",
            )  # fmt: skip
    console = Console()
    if not console.is_terminal:  # a pipe or a file: whole values, not columns cut to fit 80
        console = Console(width=200)
    console.print(table)


def _as_dict(result: TaskResult) -> dict[str, object]:
    return {
        "model": result.model,
        "task": result.task,
        "method": result.method,
        "shots": result.shots,
        "scores": [
            {"group": group, "metric": metric, "n": n, "score": mean, "interval": [low, high]}
            for group, metric, n, mean, low, high in _rows(result, by_group=True)
        ],
        "items": [
            {
                "id": item.question.id,
                "target": item.question.target,
                "loglikelihoods": [s.logprob for s in item.scores],
                **{f"chosen_{metric}": item.chosen(metric) for metric in result.metrics},
            }
            for item in result.answered
        ],
    }
