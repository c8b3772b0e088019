"""``weighbridge ps``: the local engines running now."""

from __future__ import annotations

import json
from dataclasses import asdict

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per engine.")
def ps(as_json: bool) -> None:
    """List the running local engines: model, memory, slots, requests served, uptime."""
    from rich.console import Console
    from rich.table import Table

    from weighbridge.config import default_home
    from weighbridge.engines.binary import find_llama_server, in_process_note
    from weighbridge.engines.status import running_engines

    if find_llama_server() is None:
        click.echo(in_process_note(), err=True)
    engines = running_engines(default_home())
    if as_json:
        for engine in engines:
            click.echo(json.dumps(asdict(engine)))
        return
    if not engines:
        click.echo("no engines running (weighbridge serve starts one per local model on first use)")
        return
    table = Table(box=None)
    for column in ("model", "pid", "memory", "slots", "busy", "served", "restarts", "uptime"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for e in engines:
        memory = f"{e.rss_bytes / 2**20:,.0f} MiB" if e.rss_bytes is not None else "-"
        table.add_row(
            e.model, str(e.pid), memory, f"{e.slots} x {e.ctx_per_slot}", str(e.in_flight), str(e.served),
            str(e.restarts), _duration(e.uptime_s),
        )  # fmt: skip
    Console().print(table)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
