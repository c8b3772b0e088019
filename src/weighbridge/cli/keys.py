"""``weighbridge keys``: virtual API keys for the gateway."""

from __future__ import annotations

import click

from weighbridge.cli import context
from weighbridge.money.amounts import format_cost


@click.group()
def keys() -> None:
    """Virtual keys: each with its allowed models, budget and rate limit."""


@keys.command()
@click.option("--name", required=True, help="Who or what the key is for (shown in logs, never the key).")
@click.option("--models", help="Comma-separated model ids the key may call (default: all).")
@click.option("--budget-usd", type=float, help="Hard spending cap in USD.")
@click.option("--rpm", type=int, help="Requests per minute.")
@click.pass_context
def create(
    ctx: click.Context, name: str, models: str | None, budget_usd: float | None, rpm: int | None
) -> None:
    """Create a key and print it once: only its digest is stored."""
    from weighbridge.store import keys as store_keys
    from weighbridge.targets import resolve

    allowed = [m.strip() for m in models.split(",") if m.strip()] if models else None
    settings = context.settings(ctx)
    for model in allowed or []:
        if model not in settings.catalog.models:
            resolve(settings, model)  # raises the unknown-model error, with suggestions
    store = settings.open_store()
    try:
        with store.connection() as db:
            key = store_keys.create(db, name, models=allowed, budget_usd=budget_usd, rpm=rpm)
    finally:
        store.close()
    click.echo(key)
    click.echo(f"key '{name}' created; it is shown only this once", err=True)


@keys.command(name="list")
@click.pass_context
def list_(ctx: click.Context) -> None:
    """The keys, their limits and what they have spent (never the keys themselves)."""
    from rich.console import Console
    from rich.table import Table

    from weighbridge.store import keys as store_keys

    store = context.settings(ctx).open_store()
    try:
        with store.connection() as db:
            rows = store_keys.list_keys(db)
    finally:
        store.close()
    table = Table(box=None, header_style="bold")
    for column in ("name", "key", "models", "budget", "spent", "rpm", "state"):
        table.add_column(column)
    for k in rows:
        table.add_row(
            k.name,
            k.prefix + "…",
            ", ".join(k.models) if k.models is not None else "all",
            format_cost(k.budget_usd) if k.budget_usd is not None else "-",
            format_cost(k.spent_usd),
            str(k.rpm or "-"),
            "revoked" if k.revoked_at else "live",
        )
    Console(soft_wrap=True).print(table)


@keys.command()
@click.argument("name")
@click.pass_context
def revoke(ctx: click.Context, name: str) -> None:
    """Revoke a key: requests with it are refused from now on."""
    from weighbridge.errors import InvalidRequestError
    from weighbridge.store import keys as store_keys

    store = context.settings(ctx).open_store()
    try:
        with store.connection() as db:
            if not store_keys.revoke(db, name):
                raise InvalidRequestError(f"no live key named '{name}'")
    finally:
        store.close()
    click.echo(f"key '{name}' revoked", err=True)
