"""``weighbridge pin`` and ``weighbridge verify``: the lock file of weights and snapshots."""

from __future__ import annotations

import click

from weighbridge.cli import context

_LOCK_HELP = "Lock file (default: ./weighbridge.lock, or $WEIGHBRIDGE_LOCK)."


@click.command()
@click.option("-m", "--model", "models", multiple=True, help="Also pin this model (repeatable).")
@click.option("--lock", "lock_file", type=click.Path(dir_okay=False), help=_LOCK_HELP)
@click.pass_context
def pin(ctx: click.Context, models: tuple[str, ...], lock_file: str | None) -> None:
    """Write the lock: the sha256, size and path of every local weight file in use, and the
    upstream snapshot id of every remote model in use (the config's models, routes and default,
    the registered models, those given with -m; with no -m, every runnable local model too).
    While the lock exists, a local file that no longer matches its pin refuses to load."""
    from rich.console import Console
    from rich.table import Table

    from weighbridge import weights
    from weighbridge.own import pin as pins

    settings = context.settings(ctx)
    store = settings.open_store()
    try:
        lock, warnings = pins.pin(settings, store, pins.models_in_use(settings, models))
    finally:
        store.close()
    path = weights.lock_path(lock_file)
    weights.write_lock(path, lock)
    table = Table(box=None, header_style="bold")
    for column in ("model", "kind", "pinned", "where"):
        table.add_column(column)
    for name, file_pin in lock.files.items():
        table.add_row(name, "file", file_pin.sha256[:16], f"{file_pin.path} ({file_pin.size:,} bytes)")
    for name, snap in lock.snapshots.items():
        table.add_row(name, "snapshot", snap.upstream, snap.provider)
    Console(soft_wrap=True).print(table)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"wrote {path}: {len(lock.files)} weight files, {len(lock.snapshots)} snapshots")


@click.command()
@click.option("--lock", "lock_file", type=click.Path(dir_okay=False), help=_LOCK_HELP)
@click.pass_context
def verify(ctx: click.Context, lock_file: str | None) -> None:
    """Check every pin against what each model runs on now (every byte of every weight file
    is read). Exit code 1 when a file changed or went missing, or a snapshot moved."""
    from rich.console import Console
    from rich.table import Table

    from weighbridge import weights
    from weighbridge.errors import ConfigError
    from weighbridge.own import pin as pins

    path = weights.lock_path(lock_file)
    lock = weights.read_lock(path)
    if lock is None:
        raise ConfigError(f"no lock file at {path}: run 'weighbridge pin' to write one")
    settings = context.settings(ctx)
    store = settings.open_store()
    try:
        checks = pins.verify(settings, store, lock, pins.models_in_use(settings))
    finally:
        store.close()
    table = Table(box=None, header_style="bold")
    for column in ("model", "kind", "pinned", "now", "status"):
        table.add_column(column, no_wrap=column in ("kind", "status"), overflow="fold")
    for check in checks:
        status = check.status if check.ok else f"[bold red]{check.status}[/]"
        table.add_row(check.model, check.kind, check.pinned, check.now, status)
    Console(soft_wrap=True).print(table)
    failed = [check.model for check in checks if not check.ok]
    if failed:
        click.echo(f"{path}: {len(failed)} pin(s) do not match: {', '.join(failed)}", err=True)
        ctx.exit(1)
    click.echo(f"ok: {path} matches ({lock.pinned_at or 'undated'})")
