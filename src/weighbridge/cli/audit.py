"""``weighbridge audit``: check the log's hash chain, and export it."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import IO

import click

from weighbridge.cli import context


@click.group()
def audit() -> None:
    """The tamper-evident log of every inference."""


@audit.command()
@click.pass_context
def verify(ctx: click.Context) -> None:
    """Re-derive every record's hash; name the first record that was edited, deleted,
    reordered or cut off. Exit code 1 when the chain is broken."""

    store = context.settings(ctx).open_store()
    try:
        verdict = store.verify()
    finally:
        store.close()
    if verdict.ok:
        click.echo(f"ok: {verdict.checked} records, head {verdict.head}")
        return
    where = f"record {verdict.record_id}" if verdict.record_id else f"after record {verdict.checked}"
    click.echo(f"broken: {where}: {verdict.problem}", err=True)
    ctx.exit(1)


@audit.command()
@click.option("-o", "--output", type=click.File("w"), default="-", help="File to write (default: stdout).")
@click.pass_context
def export(ctx: click.Context, output: IO[str]) -> None:
    """Write every record, in write order, as JSON lines (hashes included, so a copy can be
    verified elsewhere)."""

    store = context.settings(ctx).open_store()
    try:
        for record in store.export():
            output.write(json.dumps(asdict(record), ensure_ascii=False) + "\n")
    finally:
        store.close()
