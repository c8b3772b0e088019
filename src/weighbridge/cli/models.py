"""``weighbridge models``: the catalog, and what can run right now."""

from __future__ import annotations

import json

import click

from weighbridge.cli import context


@click.command()
@click.option("--runnable", is_flag=True, help="Only the models that can run now.")
@click.option("--open", "open_only", is_flag=True, help="Only open-weight models.")
@click.option("--json", "as_json", is_flag=True, help="Print the entries as JSON.")
@click.pass_context
def models(ctx: click.Context, runnable: bool, open_only: bool, as_json: bool) -> None:
    """List the models: open or closed, licence, price, context, and whether each can run now
    (and if not, what is missing: a key, a file)."""
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

    if as_json:
        out = [
            {"id": mid, **entry.model_dump(exclude_none=True), "runnable": ok, "runnable_reason": why}
            for mid, entry, ok, why in rows
        ]
        click.echo(json.dumps(out, indent=2))
        return

    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for column in ("model", "weights", "licence", "$/M in", "$/M out", "context", "runnable"):
        table.add_column(column, justify="right" if column.startswith(("$", "context")) else "left")
    for model_id, entry, ok, why in rows:
        price = entry.price
        table.add_row(
            model_id,
            "open" if entry.open_weights else "closed",
            entry.license.id if entry.license else "-",
            _money(price.input_per_mtok if price else None),
            _money(price.output_per_mtok if price else None),
            f"{entry.context_tokens:,}" if entry.context_tokens else "-",
            f"[green]yes[/] ({why})" if ok else f"[dim]no: {why}[/]",
        )
    Console(soft_wrap=True).print(table)


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"
