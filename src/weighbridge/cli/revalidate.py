"""``weighbridge revalidate OLD --with NEW``: every stored run that used a retiring model, made
again on its replacement and set beside the original."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING

import click

from weighbridge.cli import context

if TYPE_CHECKING:
    from weighbridge.compare.stats import Interval
    from weighbridge.revalidate import Report, Side
    from weighbridge.store.runs import RunRow


@click.command()
@click.argument("old")
@click.option("--with", "new", required=True, help="The replacement model to run them on.")
@click.option("--limit-runs", type=click.IntRange(min=1), help="Only the newest N runs that used OLD.")
@click.option(
    "--confirm-unsafe-code",
    is_flag=True,
    help="Allow evaluations that run the code a model writes (humaneval), in a sandbox.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.pass_context
def revalidate(
    ctx: click.Context,
    old: str,
    new: str,
    limit_runs: int | None,
    confirm_unsafe_code: bool,
    as_json: bool,
) -> None:
    """Make every stored compare run and evaluation that used OLD again on NEW, and print the
    two side by side: each score with its 95% interval, the paired difference (NEW - OLD, over
    the prompts both answered), the verdict (better, worse, indistinguishable) and the change in
    cost per 1,000 prompts. OLD is never asked again, so it may already be retired; the re-runs
    are stored runs ('weighbridge runs') and reuse every answer NEW already gave. A run of
    image models is drawn again with the same seeds and sizes, its CLIP score in a row of its
    own.

    \b
    weighbridge revalidate gpt-4o-mini --with gpt-5-mini
    """
    import weighbridge.revalidate as revalidation
    from weighbridge.compare.runner import interruptible
    from weighbridge.eval.stored import is_eval

    class Said(revalidation.Progress):
        def rerunning(self, run: RunRow) -> None:
            kind = "evaluation" if is_eval(run) else "compare run"
            click.echo(f"re-running {kind} {run.id} on {new}", err=True)

    client = context.client(ctx, source="revalidate")
    report = interruptible(
        client,
        lambda: revalidation.revalidate(
            client, old, new, limit_runs=limit_runs, confirm_unsafe_code=confirm_unsafe_code, progress=Said()
        ),
    )
    if as_json:
        rows = [{**asdict(r), "verdict": r.verdict, "cost_change_per_1k": r.cost_change} for r in report.rows]
        click.echo(
            json.dumps(
                {"old": old, "new": new, "rows": rows, "skipped": [asdict(s) for s in report.skipped]},
                indent=2,
            )
        )
        return
    _table(report)


def _table(report: Report) -> None:
    from rich.console import Console
    from rich.table import Table

    from weighbridge.money.amounts import format_cost

    table = Table(box=None, header_style="bold")
    for column in (
        "run",
        "kind",
        "on",
        report.old,
        report.new,
        "new - old",
        "verdict",
        "per 1k prompts",
        "re-run",
    ):
        table.add_column(column, overflow="fold")
    for row in report.rows:
        diff = row.difference
        change = "-" if diff is None else f"{diff.difference:+.2f} {_ci(diff.interval)}, n={diff.prompts}"
        priced = (row.old.cost_per_1k, row.new.cost_per_1k) != (None, None)
        costs = f"{format_cost(row.old.cost_per_1k)} -> {format_cost(row.new.cost_per_1k)}" if priced else "-"
        table.add_row(
            row.old.run_id, row.kind, row.what, _score(row.old), _score(row.new), change, row.verdict, costs,
            row.new.run_id,
        )  # fmt: skip
    console = Console(soft_wrap=True, highlight=False)
    if not console.is_terminal:  # a pipe or a file: whole values, one line per run
        console = Console(soft_wrap=True, width=1000, highlight=False)
    console.print(table)
    for row in report.rows:
        if row.note is not None:
            console.print(f"{row.old.run_id} {row.what}: {row.note}", markup=False)
    for skipped in report.skipped:
        console.print(f"skipped {skipped.run_id}: {skipped.why}", markup=False)


def _score(side: Side) -> str:
    if side.score is None:
        return "-"
    failed = f" ({side.errors} failed)" if side.errors else ""
    return f"{side.score:.2f} {_ci(side.interval)}{failed}"


def _ci(interval: Interval | None) -> str:
    return "" if interval is None else f"[{interval.low:.2f}, {interval.high:.2f}]"
