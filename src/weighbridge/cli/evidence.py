"""``weighbridge evidence``: what the runs, the votes and the log say of each model, per task."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from weighbridge.cli import context
from weighbridge.cli.render import seconds
from weighbridge.money.amounts import format_cost

if TYPE_CHECKING:
    from rich.text import Text

    from weighbridge.evidence import Row


@click.command()
@click.option("--task", default=None, help="Only this task's rows.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@click.option(
    "--all", "show_all", is_flag=True, help="Also the rows of weights a model no longer answers with."
)
@click.pass_context
def evidence(ctx: click.Context, task: str | None, as_json: bool, show_all: bool) -> None:
    """Per task and model weights: quality (mean score with its 95% interval, from compare and
    eval runs), arena rating (from votes, relative), and the log's median latency and cost per call.

    A model whose weights changed starts from no evidence: its older weights' rows are stale,
    shown with --all.
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
        where = f" for task '{task}'" if task else ""
        click.echo(
            f"no evidence yet{where}: `weighbridge compare` and `weighbridge eval` make some, "
            "and so do votes on the arena page (`weighbridge ui`)"
        )
        return
    _print(rows)


def _print(rows: list[Row]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, header_style="bold")
    for column in ("task", "model", "weights", "quality [95% CI]", "n", "from", "arena [95% CI]", "votes"):
        table.add_column(column, justify="right" if column in ("n", "votes") else "left")
    for column in ("latency p50", "cost/call"):
        table.add_column(column, justify="right")
    for row in rows:
        q, a, s = row.quality, row.arena, row.speed
        table.add_row(
            Text(row.task),
            Text(row.model),
            _weights(row),
            "no evidence yet" if q is None else f"{q.mean:.2f} [{q.low:.2f}, {q.high:.2f}]",
            "-" if q is None else str(q.n),
            "-" if q is None else q.source,
            "-" if a is None else f"{a.rating:.0f} [{a.low:.0f}, {a.high:.0f}] {a.win_rate:.0%} won",
            "-" if a is None else str(a.votes),
            seconds(None if s is None else s.latency_p50_s),
            format_cost(None if s is None else s.cost_per_call_usd),
        )
    console = Console(soft_wrap=True)
    if not console.is_terminal:  # in a pipe, one line per row (for grep and cut)
        console = Console(soft_wrap=True, width=1000)
    console.print(table)


def _weights(row: Row) -> Text:
    """A hash cut to 12 hex digits (enough to tell weights apart); a snapshot id as it is."""
    from rich.text import Text

    name = row.weights or "unknown"
    shown = Text(name[: len("sha256:") + 12] if name.startswith("sha256:") else name)
    if not row.current:
        shown.append(" (stale)", style="dim")
    return shown
