"""``weighbridge serve``: the HTTP gateway."""

from __future__ import annotations

import ipaddress
import json
import os
from typing import TYPE_CHECKING

import click

from weighbridge.cli import context

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from weighbridge.config import Settings
    from weighbridge.engines.pool import Engines
    from weighbridge.server.app import Gateway
    from weighbridge.store import Store

MASTER_KEY_ENV = "WEIGHBRIDGE_MASTER_KEY"
#: How ``serve --workers`` tells each worker process what the command line said.
_WORKER_ENV = "WEIGHBRIDGE_SERVE_WORKER"


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--log-level", default="warning", show_default=True, help="uvicorn's log level.")
@click.option(
    "--engine",
    type=click.Choice(["llama-server", "in-process"]),
    default=None,
    help="How local models run: supervised llama-server engines that batch concurrent requests "
    "(the default, from the config's [engine] local), or in-process, one request at a time.",
)
@click.option("--preload", multiple=True, metavar="MODEL", help="Start this local model's engine now.")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Gateway processes on this port, sharing the store and one engine per local model.",
)
@click.pass_context
def serve(
    ctx: click.Context,
    host: str,
    port: int,
    log_level: str,
    engine: str | None,
    preload: tuple[str, ...],
    workers: int,
) -> None:
    """Serve the OpenAI- and Anthropic-compatible gateway.

    With WEIGHBRIDGE_MASTER_KEY set, every request must carry that key; without it the
    gateway refuses to bind anything but loopback. With --workers N, N processes answer on
    the same port: the log, keys, budgets and rate limits are in the store they share (SQLite
    on this machine, or PostgreSQL for replicas on several), and each local model runs on one
    engine that every worker uses.
    """
    from weighbridge.errors import ConfigError

    master_key = os.environ.get(MASTER_KEY_ENV) or None
    if master_key is None and not _is_loopback(host):
        raise ConfigError(
            f"refusing to serve on {host} without a key: set {MASTER_KEY_ENV}, or bind 127.0.0.1"
        )
    import uvicorn

    settings = context.settings(ctx)
    if workers > 1 and (engine or settings.engine.local) == "in-process":
        raise ConfigError(
            "--workers needs local models on llama-server engines, which the workers share; "
            "in-process, every worker would load every local model (drop --engine in-process, "
            "or [engine] local)"
        )
    if workers > 1:
        if config := ctx.find_root().obj.get("config"):
            os.environ["WEIGHBRIDGE_CONFIG"] = str(config)
        os.environ[_WORKER_ENV] = json.dumps({"engine": engine, "preload": list(preload)})
        settings.open_store().close()  # the schema once, before the workers open it together
        click.echo(f"weighbridge gateway on http://{host}:{port}/v1 ({workers} workers)", err=True)
        uvicorn.run(
            f"{__name__}:worker_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            access_log=False,
        )
        return
    gateway = _gateway(settings, engine, list(preload), shared=False)
    ctx.call_on_close(gateway.client.close)
    app = gateway.app()
    click.echo(f"weighbridge gateway on http://{host}:{port}/v1", err=True)
    _freeze_startup_objects()
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)


def worker_app() -> Starlette:
    """One worker of ``serve --workers N`` (uvicorn imports and calls this in each process)."""
    from weighbridge.config import load_settings

    told = json.loads(os.environ[_WORKER_ENV])
    gateway = _gateway(load_settings(), told["engine"], told["preload"], shared=True)
    app = gateway.app()
    _freeze_startup_objects()
    return app


def _gateway(settings: Settings, engine: str | None, preload: list[str], *, shared: bool) -> Gateway:
    from weighbridge.server.app import Gateway

    store = settings.open_store()
    engines = (
        _engines(settings, store, shared=shared)
        if (engine or settings.engine.local) == "llama-server"
        else None
    )
    master_key = os.environ.get(MASTER_KEY_ENV) or None
    return Gateway(settings, store=store, engines=engines, master_key=master_key, preload=preload)


def _freeze_startup_objects() -> None:
    """Take what start-up loaded (modules, the catalog, the app: about 60,000 objects) out of
    the garbage collector's full collections, which otherwise walk all of it: a pause of about
    30 ms for every request in flight, every few thousand requests. The upstream HTTP stack,
    otherwise imported by the first request, is imported first so that it is included."""
    import gc

    import weighbridge.providers.transport  # noqa: F401

    gc.freeze()


def _engines(settings: Settings, store: Store, *, shared: bool = False) -> Engines | None:
    """Supervised engines for local models, or None (in-process) without a llama-server."""
    from weighbridge.engines.binary import in_process_note
    from weighbridge.engines.pool import supervised

    engines = supervised(settings, store, shared=shared)
    if engines is None:
        click.echo(in_process_note(), err=True)
    return engines


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
