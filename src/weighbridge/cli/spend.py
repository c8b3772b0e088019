"""``weighbridge spend``: what the log says was spent, and how each key's budget is holding."""

from __future__ import annotations

import csv
import json
import sys
from typing import TYPE_CHECKING, Any, cast

import click

from weighbridge.cli import context

if TYPE_CHECKING:
    from weighbridge.money.budgets import Budget
    from weighbridge.money.spend import Spend

_BY = ("model", "key", "route", "provider", "day")
_FIELDS = (
    "requests",
    "ok",
    "incomplete",
    "errors",
    "unpriced",
    "prompt_tokens",
    "completion_tokens",
    "images",
)


@click.command()
@click.option(
    "--by", "by", type=click.Choice(_BY), default="model", show_default=True, help="Group totals by."
)
@click.option("--since", help="First UTC day to count, YYYY-MM-DD (inclusive).")
@click.option("--until", help="Last UTC day to count, YYYY-MM-DD (inclusive).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (costs as exact decimal strings).")
@click.option("--csv", "as_csv", is_flag=True, help="Print the totals as CSV.")
@click.pass_context
def spend(
    ctx: click.Context, by: str, since: str | None, until: str | None, as_json: bool, as_csv: bool
) -> None:
    """Spend from the log, exact to the cent: ok and incomplete requests at what they cost,
    failed ones at $0, local models at their self-hosting rate. Then each key's budget: what
    is left, its burn rate over the last 7 days and the day it runs out at that rate."""
    from weighbridge.errors import InvalidRequestError
    from weighbridge.money import budgets as money_budgets
    from weighbridge.money import spend as money_spend
    from weighbridge.money.window import Window, parse_day

    if as_json and as_csv:
        raise InvalidRequestError("give --json or --csv, not both")
    window = Window(
        parse_day(since, "--since") if since else None, parse_day(until, "--until") if until else None
    )
    settings = context.settings(ctx)
    store = settings.open_store()
    try:
        report = money_spend.spend(store, cast("money_spend.GroupBy", by), window)
        held = money_budgets.budgets(store, settings.routes)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(_as_json(report, held), indent=2))
    elif as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow([by, *_FIELDS, "cost_usd"])
        for line in [*report.lines, report.total]:
            writer.writerow([line.group, *(getattr(line, f) for f in _FIELDS), str(line.cost_usd)])
    else:
        _print(report, held)


def _as_json(report: Spend, held: list[Budget]) -> dict[str, Any]:
    from weighbridge.money.budgets import budget_json
    from weighbridge.money.spend import to_json

    return {**to_json(report), "budgets": [budget_json(b) for b in held]}


def _print(report: Spend, held: list[Budget]) -> None:
    from rich.console import Console
    from rich.table import Table

    from weighbridge.money.amounts import format_usd

    console = Console(soft_wrap=True)
    span = f"{report.window.since or 'the start'} to {report.window.until or 'now'}"
    table = Table(title=f"Spend by {report.by}, {span} (UTC days)", box=None, header_style="bold")
    table.add_column(report.by)
    for column in ("requests", "ok", "incomplete", "errors", "in tokens", "out tokens", "images", "cost"):
        table.add_column(column, justify="right")
    for line in [*report.lines, report.total]:
        style = "bold" if line is report.total else None
        table.add_row(
            line.group,
            str(line.requests),
            str(line.ok),
            str(line.incomplete),
            str(line.errors),
            f"{line.prompt_tokens:,}",
            f"{line.completion_tokens:,}",
            f"{line.images:,}",
            format_usd(line.cost_usd),
            style=style,
        )
    console.print(table)
    if report.total.unpriced:
        console.print(
            f"{report.total.unpriced} answered request(s) went to models without a price in the catalog: "
            "not in these totals. Add [models.ID.price] to your config."
        )
    if held:
        budgets = Table(title="Budgets (burn: last 7 days, or since the budget began)", box=None)
        for column in ("budget of", "budget", "spent", "reserved", "remaining", "burn / day", "runs out"):
            budgets.add_column(column, justify="left" if column in ("budget of", "runs out") else "right")
        for b in held:
            budgets.add_row(
                f"{b.kind} {b.name}",
                format_usd(b.budget_usd),
                format_usd(b.spent_usd),
                format_usd(b.reserved_usd),
                format_usd(b.remaining_usd),
                format_usd(b.burn_usd_per_day),
                b.runs_out_text(),
            )
        console.print(budgets)
