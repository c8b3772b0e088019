"""``weighbridge logs``: the recent inferences from the store."""

from __future__ import annotations

import json
from dataclasses import asdict

import click

from weighbridge.cli import context
from weighbridge.cli.render import usd


@click.command()
@click.option("-n", "--count", default=20, show_default=True, help="How many records.")
@click.option("-m", "--model", help="Only this model's records.")
@click.option("--json", "as_json", is_flag=True, help="Print the records as JSON lines.")
@click.pass_context
def logs(ctx: click.Context, count: int, model: str | None, as_json: bool) -> None:
    """Show the most recent inferences, newest first."""
    from weighbridge.store import Store

    store = Store(context.settings(ctx).db_path)
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

    table = Table(box=None, header_style="bold")
    for column in ("time", "model", "status", "in", "out", "latency", "ttft", "cost", "prompt", "answer"):
        table.add_column(
            column, justify="right" if column in ("in", "out", "latency", "ttft", "cost") else "left"
        )
    for r in records:
        table.add_row(
            r.created_at[:19].replace("T", " "),
            r.model,
            r.status if not r.error else f"{r.status}: {r.error}",
            str(r.prompt_tokens or "-"),
            str(r.completion_tokens or "-"),
            f"{r.latency_ms / 1000:.2f}s" if r.latency_ms is not None else "-",
            f"{r.ttft_ms / 1000:.2f}s" if r.ttft_ms is not None else "-",
            usd(r.cost_usd),
            _excerpt(_last_user_text(r.request)),
            _excerpt(r.response),
        )
    Console(soft_wrap=True).print(table)


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
