"""What the commands share: settings and a client built from the ``--config`` option."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from weighbridge.client import Client
    from weighbridge.config import Settings


def settings(ctx: click.Context) -> Settings:
    from weighbridge.config import load_settings

    root = ctx.find_root()
    if "settings" not in root.obj:
        root.obj["settings"] = load_settings(root.obj.get("config"))
    loaded: Settings = root.obj["settings"]
    return loaded


def client(ctx: click.Context, source: str = "cli") -> Client:
    from weighbridge import evidence_advisor
    from weighbridge.client import Client

    made = Client(settings(ctx), source=source, advisor=evidence_advisor)
    ctx.call_on_close(made.close)
    return made
