"""``weighbridge db``: the store's schema, and moving it to another database."""

from __future__ import annotations

import click

from weighbridge.cli import context


@click.group()
def db() -> None:
    """The store: SQLite in the data directory, or PostgreSQL ([store] url,
    WEIGHBRIDGE_DATABASE_URL) for several gateway replicas."""


@db.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Bring the store's schema up to date (replicas starting together take turns)."""
    from weighbridge.store import Store

    settings = context.settings(ctx)
    store = Store(settings.store_location, settings.store, migrate_now=False)
    try:
        applied = store.migrate()
    finally:
        store.close()
    if applied:
        click.echo(f"{store.location}: applied {', '.join(applied)}")
    else:
        click.echo(f"{store.location}: up to date")


@db.command()
@click.option(
    "--to", "target_url", required=True, help="The empty store to fill: a postgresql:// URL or a file."
)
@click.pass_context
def copy(ctx: click.Context, target_url: str) -> None:
    """Copy every record, key, budget, run and vote into another store, and verify the audit
    chain there. The target must be empty; point the gateways at it afterwards."""
    from weighbridge.store import Store
    from weighbridge.store.copy import copy_store

    settings = context.settings(ctx)
    source = settings.open_store()
    target = Store(target_url, settings.store)
    try:
        copied = copy_store(source, target, lambda table, n: click.echo(f"  {table}: {n} rows", err=True))
        verdict = target.verify()
    finally:
        source.close()
        target.close()
    total = sum(copied.values())
    click.echo(f"copied {total} rows from {source.location} to {target.location}")
    if not verdict.ok:
        click.echo(f"the copy's audit chain does not verify: {verdict.problem}", err=True)
        ctx.exit(1)
    click.echo(f"audit chain ok: {verdict.checked} records, head {verdict.head}")
