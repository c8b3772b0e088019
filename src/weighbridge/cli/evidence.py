"""``weighbridge evidence``: what the runs, the votes and the log say of each model, per task."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from weighbridge.cli import context

if TYPE_CHECKING:
    from weighbridge.evidence import Row


@click.command()
@click.option("--task", default=None, help="Only this task's rows.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="Also the stale rows: weights a model no longer answers with, evidence from before drift.",
)
@click.pass_context
def evidence(ctx: click.Context, task: str | None, as_json: bool, show_all: bool) -> None:
    """Per task and model weights: quality (mean score with its 95% interval, from compare and
    eval runs), arena rating (from votes, relative), and the log's median latency and cost per call.

    A model whose weights changed, or that `weighbridge drift` found changed under the same
    weights, starts from no evidence: the older rows are stale, shown with --all and why.
    """
    from weighbridge.evidence import as_json as row_json
    from weighbridge.evidence import table

    store = context.settings(ctx).open_store()
    try:
        rows = [row for row in table(store, task=task) if show_all or row.current]
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps([row_json(row) for row in rows], indent=2))
        return
    if not rows:
        from weighbridge.evidence.figures import none_yet

        click.echo(none_yet(task))
        return
    _print(rows)


def _print(rows: list[Row]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from weighbridge.evidence.figures import shown

    table = Table(box=None, header_style="bold")
    for column in ("task", "model", "weights", "quality [95% CI]", "n", "from", "arena [95% CI]", "votes"):
        table.add_column(column, justify="right" if column in ("n", "votes") else "left")
    for column in ("latency p50", "cost/call"):
        table.add_column(column, justify="right")
    for row in rows:
        figures = shown(row)
        # two rows of the same weights differ only by why one is stale: said beside the weights
        weights = Text(figures["weights"])
        if figures["stale"]:
            weights.append(f" {figures['stale']}", style="dim")
        table.add_row(
            Text(row.task),
            Text(row.model),
            weights,
            *(figures[k] for k in ("quality", "n", "source", "arena", "votes", "latency_p50_s")),
            figures["cost_per_call_usd"],
        )
    console = Console(soft_wrap=True)
    if not console.is_terminal:  # in a pipe, one line per row (for grep and cut)
        console = Console(soft_wrap=True, width=1000)
    console.print(table)
