"""``weighbridge compare``, ``runs`` and ``show``: weigh models on a prompt set, list the runs,
and show one again from the store (no model is called)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from weighbridge.cli import context

if TYPE_CHECKING:
    from rich.console import Console

    from weighbridge.compare.results import Results
    from weighbridge.store import runs as store_runs

_path = click.Path(dir_okay=False, path_type=Path)


@click.command()
@click.argument("file", type=_path)
@click.option(
    "-m", "--model", "models", multiple=True, help="A model to compare (repeatable; default: the file's)."
)
@click.option("-s", "--system", help="System prompt for every prompt (overrides the file's).")
@click.option("-t", "--temperature", type=float)
@click.option("--max-tokens", type=click.IntRange(min=1))
@click.option(
    "--samples",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Answers per prompt and model.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    help="Calls in flight per provider (default: 1 per local file, 8 per API).",
)
@click.option(
    "--judge",
    "judge_model",
    help="Model for judge/pairwise checks that name none (default: the default model).",
)
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N prompts of the file.")
@click.option(
    "--seed", type=click.IntRange(min=0),
    help="Sampling seed (image models: each picture's, unless its prompt gives a 'seed').",
)  # fmt: skip
@click.option(
    "--size", help="Image models: the pictures' WIDTHxHEIGHT (default: each model's; a prompt's 'size' wins)."
)
@click.option(
    "--steps", type=click.IntRange(min=1), help="Image models: denoising steps (a prompt's 'steps' wins)."
)
@click.option(
    "--pictures", type=click.IntRange(min=1, max=10), default=1, show_default=True,
    help="Image models: pictures per prompt and model (a prompt's 'n' wins).",
)  # fmt: skip
@click.option(
    "--clip", type=click.Path(file_okay=False, path_type=Path),
    help="Image models: score each picture's CLIP score with the CLIP model in this folder.",
)  # fmt: skip
@click.option("--html", "html_path", type=_path, help="Write a self-contained HTML report.")
@click.option("--json", "json_path", type=_path, help="Write the run as JSON.")
@click.option("--csv", "csv_path", type=_path, help="Write one CSV row per answer.")
@click.option("--fail-on-assert", is_flag=True, help="Exit 1 when any check fails (for CI).")
@click.option("--no-cache", is_flag=True, help="Ask every model again, even for answers already stored.")
@click.option("-q", "--quiet", is_flag=True, help="No progress and no answers: the summary only.")
@click.pass_context
def compare(
    ctx: click.Context,
    file: Path,
    models: tuple[str, ...],
    system: str | None,
    temperature: float | None,
    max_tokens: int | None,
    samples: int,
    concurrency: int | None,
    judge_model: str | None,
    limit: int | None,
    seed: int | None,
    size: str | None,
    steps: int | None,
    pictures: int,
    clip: Path | None,
    html_path: Path | None,
    json_path: Path | None,
    csv_path: Path | None,
    fail_on_assert: bool,
    no_cache: bool,
    quiet: bool,
) -> None:
    """Run the prompts in FILE (JSONL, CSV or YAML) on several models and weigh the answers.

    \b
    weighbridge compare examples/sentiment.yaml
    weighbridge compare prompts.jsonl -m smollm2-135m -m gpt-4o-mini --html report.html

    Finished answers are kept as they come: after Ctrl-C or a crash, the same command resumes
    and calls no model for what is already answered.

    For image models --seed, --size, --steps and --pictures are defaults: a prompt in FILE
    may give its own seed, size, steps, n (pictures) and negative_prompt.
    """
    from weighbridge.compare import images, promptset, report, results, runner

    prompt_set = promptset.load(file)
    if limit is not None:
        prompt_set = prompt_set.model_copy(update={"cases": prompt_set.cases[:limit]})
    params = {
        k: v
        for k, v in {"temperature": temperature, "max_tokens": max_tokens, "seed": seed}.items()
        if v is not None
    }
    options = runner.RunOptions(
        models=models,
        params=params,
        system=system,
        samples=samples,
        concurrency=concurrency,
        use_cache=not no_cache,
        judge_model=judge_model,
    )
    client = context.client(ctx, source="compare")
    err = _console(stderr=True)
    progress = report.RichProgress(err, quiet)
    drawing = images.ImageOptions(size=size, seed=seed, steps=steps, n=pictures, clip=clip)
    of_images = images.of_images(client.settings, runner.model_names(client.settings, prompt_set, options))
    if not of_images and drawing != images.ImageOptions(seed=seed):
        raise click.UsageError("--size, --steps, --pictures and --clip are for image models")
    if of_images and (system or params.keys() - {"seed"}):
        raise click.UsageError("--system, --temperature and --max-tokens are for chat models")
    try:
        if of_images:
            run_id = images.run_sync(client, prompt_set, options, drawing, progress)
        else:
            run_id = runner.run_sync(client, prompt_set, options, progress)
    except KeyboardInterrupt:
        progress.stop()
        err.print("[yellow]The finished answers are stored: run the same command again to resume.[/]")
        raise
    finally:
        progress.stop()
    loaded = results.load(client.store, run_id)
    _views(
        loaded, client.settings.home, quiet=quiet, html_path=html_path, json_path=json_path, csv_path=csv_path
    )
    if fail_on_assert:
        failing = _failing(loaded)
        if failing:
            click.echo(f"{failing} answer(s) failed their checks (--fail-on-assert)", err=True)
            ctx.exit(1)


@click.command()
@click.option("-n", "--count", default=20, show_default=True, help="How many runs.")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON lines.")
@click.pass_context
def runs(ctx: click.Context, count: int, as_json: bool) -> None:
    """List the most recent runs (compare and eval), newest first."""
    import json

    from weighbridge.store import runs as store_runs

    store = context.settings(ctx).open_store()
    try:
        with store.connection() as db:
            found = store_runs.recent_runs(db, count)
    finally:
        store.close()
    if as_json:
        for run, cells, errors in found:
            data = {k: v for k, v in vars(run).items() if k != "cases"}
            click.echo(json.dumps({**data, "prompts": _prompts(run), "answers": cells, "errors": errors}))
        return
    _runs_table(found)


@click.command()
@click.argument("run_id", metavar="RUN")
@click.option("--html", "html_path", type=_path, help="Write a self-contained HTML report.")
@click.option("--json", "json_path", type=_path, help="Write the run as JSON.")
@click.option("--csv", "csv_path", type=_path, help="Write one CSV row per answer.")
@click.option("-q", "--quiet", is_flag=True, help="The summary only, without the answers.")
@click.pass_context
def show(
    ctx: click.Context,
    run_id: str,
    html_path: Path | None,
    json_path: Path | None,
    csv_path: Path | None,
    quiet: bool,
) -> None:
    """Show a stored run (its id or a unique prefix of it) without calling any model."""
    from weighbridge.compare import results
    from weighbridge.eval import stored
    from weighbridge.store import runs as store_runs

    settings = context.settings(ctx)
    store = settings.open_store()
    try:
        with store.connection() as db:
            run = store_runs.find_run(db, run_id)
        if stored.is_eval(run):
            from weighbridge.cli.evals import views

            found = stored.load(store, run.id)
            views(settings, found, by_group=True, as_json=False, html_path=html_path, csv_path=csv_path,
                  json_path=json_path)  # fmt: skip
            return
        loaded = results.load(store, run.id)
    finally:
        store.close()
    _views(loaded, settings.home, quiet=quiet, html_path=html_path, json_path=json_path, csv_path=csv_path)


def _views(
    loaded: Results,
    home: Path,
    *,
    quiet: bool,
    html_path: Path | None,
    json_path: Path | None,
    csv_path: Path | None,
) -> None:
    from weighbridge.compare import export, html_report, image_report, report
    from weighbridge.compare.recommend import recommend
    from weighbridge.compare.stats import summarise
    from weighbridge.store.pictures import Pictures

    summaries = summarise(loaded)
    recommendation = recommend(loaded, summaries)
    console = _console(stderr=False)
    if not quiet:
        (image_report.print_pictures if loaded.of_images else report.print_answers)(console, loaded)
    (image_report.print_summary if loaded.of_images else report.print_summary)(
        console, loaded, summaries, recommendation
    )
    written = []
    if html_path is not None:
        if loaded.of_images:
            html = image_report.render(loaded, summaries, recommendation, Pictures(home))
        else:
            html = html_report.render(loaded, summaries, recommendation)
        html_report.write(html_path, html)
        written.append(str(html_path))
    if json_path is not None:
        export.write_json(json_path, loaded, summaries, recommendation)
        written.append(str(json_path))
    if csv_path is not None:
        export.write_csv(csv_path, loaded)
        written.append(str(csv_path))
    if written:
        click.echo("wrote " + ", ".join(written), err=True)


def _failing(loaded: Results) -> int:
    from weighbridge.compare.results import cell_score

    return sum(1 for c in loaded.cells if cell_score(c, loaded.case(c.prompt_id))[1] is False)


def _prompts(run: store_runs.RunRow) -> int:
    """A compare run's prompts; an evaluation's items, over all its tasks."""
    from weighbridge.eval import stored

    return stored.items(run) if stored.is_eval(run) else len(run.cases)


def _runs_table(found: list[tuple[store_runs.RunRow, int, int]]) -> None:
    from rich.table import Table
    from rich.text import Text

    from weighbridge.eval import stored

    table = Table(box=None, header_style="bold")
    for column in ("run", "created", "status", "prompts", "answers", "errors"):
        right = column in ("prompts", "answers", "errors")
        table.add_column(column, justify="right" if right else "left", no_wrap=True)  # ids are copied whole
    table.add_column("models", overflow="fold")
    table.add_column("file", overflow="fold")
    for run, cells, errors in found:
        table.add_row(
            run.id,
            run.created_at[5:16].replace("T", " "),
            run.status,
            str(_prompts(run)),
            str(cells),
            str(errors),
            Text(", ".join(run.models)),
            Text(run.description if stored.is_eval(run) and run.description else Path(run.source).name),
        )
    _console(stderr=False).print(table)


def _console(*, stderr: bool) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, soft_wrap=False)
