"""``weighbridge logs``: the recent inferences from the store."""

from __future__ import annotations

import json
from dataclasses import asdict

import click

from weighbridge.cli import context
from weighbridge.money.amounts import format_cost


@click.command()
@click.option("-n", "--count", default=20, show_default=True, help="How many records.")
@click.option("-m", "--model", help="Only this model's records.")
@click.option("--json", "as_json", is_flag=True, help="Print the records as JSON lines.")
@click.pass_context
def logs(ctx: click.Context, count: int, model: str | None, as_json: bool) -> None:
    """Show the most recent inferences, newest first."""

    store = context.settings(ctx).open_store()
    try:
        records = store.recent(count, model)
    finally:
        store.close()
    if as_json:
        for record in records:
            click.echo(json.dumps(asdict(record)))
        return

    from rich.console import Console
    from rich.table import Table

    console = Console(soft_wrap=True)
    texts = console.width >= 110  # prompt and answer excerpts only where they fit
    table = Table(box=None, header_style="bold")
    for column in ("time", "model", "status", "in", "out", "latency", "ttft", "cost"):
        right = column in ("in", "out", "latency", "ttft", "cost")
        table.add_column(column, justify="right" if right else "left", no_wrap=True)
    if texts:
        for column in ("prompt", "answer"):
            table.add_column(column, no_wrap=True, overflow="ellipsis", max_width=32)
    for r in records:
        row = [
            r.created_at[5:19].replace("T", " "),
            r.model,
            r.status if not r.error else f"{r.status}: {_excerpt(r.error, 60)}",
            str(r.prompt_tokens or "-"),
            str(r.completion_tokens or "-"),
            f"{r.latency_ms / 1000:.2f}s" if r.latency_ms is not None else "-",
            f"{r.ttft_ms / 1000:.2f}s" if r.ttft_ms is not None else "-",
            format_cost(r.cost_usd),
        ]
        if texts:
            row += [_excerpt(_last_user_text(r.request)), _excerpt(r.response)]
        table.add_row(*row)
    console.print(table)


def _last_user_text(request: str | None) -> str | None:
    if request is None or request.startswith("sha256:"):
        return request
    messages = json.loads(request).get("messages", [])
    users = [m.get("content") for m in messages if m.get("role") == "user"]
    last = users[-1] if users else None
    return last if isinstance(last, str) else None


def _excerpt(text: str | None, width: int = 40) -> str:
    if not text:
        return "-"
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
