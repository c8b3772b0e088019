"""``weighbridge models``: the catalog, and what can run right now."""

from __future__ import annotations

import json
from datetime import date

import click

from weighbridge.cli import context


@click.command()
@click.option("--runnable", is_flag=True, help="Only the models that can run now.")
@click.option("--open", "open_only", is_flag=True, help="Only open-weight models.")
@click.option("--json", "as_json", is_flag=True, help="Print the entries as JSON.")
@click.pass_context
def models(ctx: click.Context, runnable: bool, open_only: bool, as_json: bool) -> None:
    """List the models: open or closed, licence, price, context, and whether each can run now
    (and if not, what is missing: a key, a file). Models that retire within 90 days, or have
    retired, are named on stderr with the date and its source."""
    from weighbridge.catalog.retirement import retirement_warning
    from weighbridge.targets import availability

    catalog = context.settings(ctx).catalog
    rows = []
    for model_id, entry in catalog.models.items():
        if open_only and not entry.open_weights:
            continue
        ok, why = availability(context.settings(ctx), model_id)
        if runnable and not ok:
            continue
        rows.append((model_id, entry, ok, why))
    today = date.today()
    retiring = {mid: retirement_warning(catalog, mid, today) for mid, *_ in rows}

    if as_json:
        out = [
            {
                "id": mid,
                **entry.model_dump(exclude_none=True),
                "runnable": ok,
                "runnable_reason": why,
                "retirement_warning": retiring[mid],
            }
            for mid, entry, ok, why in rows
        ]
        click.echo(json.dumps(out, indent=2))
        return

    from rich.console import Console
    from rich.table import Table

    # In a pipe, one line per model (for grep and cut) instead of a layout for 80 columns.
    console = Console(soft_wrap=True)
    if not console.is_terminal:
        console = Console(soft_wrap=True, width=1000)
    wide = console.width >= 120  # room for the licence; `models --json` always has it
    table = Table(box=None, header_style="bold")
    # The id is what a user types: never cut or wrapped, whatever the width; the short figures
    # keep their width too, and only the licence and the runnable reason wrap.
    table.add_column("model", no_wrap=True, min_width=max((len(row[0]) for row in rows), default=5))
    table.add_column("weights", no_wrap=True, min_width=6)
    if wide:
        table.add_column("licence", overflow="fold")
    table.add_column("$/M in/out", justify="right", no_wrap=True)
    table.add_column("context", justify="right", no_wrap=True)
    table.add_column("runnable", overflow="fold", min_width=12)
    for model_id, entry, ok, why in rows:
        price = entry.price
        cells = [
            model_id,
            "open" if entry.open_weights else "closed",
            *([entry.license.id if entry.license else "-"] if wide else []),
            f"{_money(price.input_per_mtok)}/{_money(price.output_per_mtok)}" if price else "-",
            f"{entry.context_tokens:,}" if entry.context_tokens else "-",
            f"[green]yes[/] ({why})" if ok else f"[dim]no: {why}[/]",
        ]
        table.add_row(*cells)
    console.print(table)
    warn_retiring([line for line in retiring.values() if line])


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def warn_retiring(lines: list[str]) -> None:
    """The retirement warnings on stderr, wrapped to the terminal (stdout stays one line per
    row for grep), with the command that weighs a replacement on the runs already made."""
    if not lines:
        return
    from rich.console import Console
    from rich.markup import escape

    err = Console(stderr=True, highlight=False)
    if not err.is_terminal:  # a pipe or a file: one warning a line, never cut
        err = Console(stderr=True, highlight=False, soft_wrap=True)
    for line in lines:
        err.print(f"[yellow]warning:[/] {escape(line)}")
    err.print(
        "'weighbridge revalidate OLD --with NEW' re-runs the stored runs of a model on its replacement."
    )
