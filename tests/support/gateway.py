"""The gateway three ways: in this process over an ASGI transport (most tests: the SDKs take it
as their HTTP client), in this process on a real loopback port (tools in other processes and
Chromium need a socket, and streams arrive as they are written), and as a ``weighbridge serve``
process started as a user starts it (what only a process shows: signals, ``kill -9``, the
console script's start-up)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.testclient import TestClient

from tests.support.cli import WEIGHBRIDGE
from tests.support.servers import free_port
from weighbridge.config import Settings, load_settings
from weighbridge.engines.pool import supervised
from weighbridge.providers.retry import RetryPolicy
from weighbridge.server.app import Gateway


def settings_for(home: Path, config: str | None = None) -> Settings:
    """The settings ``weighbridge serve`` would load with ``WEIGHBRIDGE_HOME=home``; ``config``
    is written to ``home/config.toml`` first."""
    home.mkdir(parents=True, exist_ok=True)
    if config is not None:
        (home / "config.toml").write_text(config)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WEIGHBRIDGE_HOME", str(home))
        patch.delenv("WEIGHBRIDGE_CONFIG", raising=False)
        return load_settings()


def build(
    home: Path,
    *,
    master_key: str | None = None,
    config: str | None = None,
    retry_policy: RetryPolicy | None = None,
    engines: bool = False,
) -> Gateway:
    """The gateway as ``serve`` builds it for ``home``. Local chats run in-process, one at a
    time, unless ``engines``: then on supervised llama-server engines that decode concurrent
    requests together, as ``serve`` runs them by default (in-process where none is built)."""
    settings = settings_for(home, config)
    store = settings.open_store()
    return Gateway(
        settings,
        store=store,
        engines=supervised(settings, store) if engines else None,
        master_key=master_key,
        retry_policy=retry_policy,
    )


@contextmanager
def gateway_app(
    home: Path,
    *,
    master_key: str | None = None,
    config: str | None = None,
    retry_policy: RetryPolicy | None = None,
    engines: bool = False,
) -> Iterator[TestClient]:
    """The gateway in this process, reached through an ASGI transport: Starlette's TestClient,
    an httpx-style client whose base URL is the gateway's root, which the SDKs take as their
    ``http_client``. Its lifespan runs as ``serve``'s does; a streamed body arrives whole."""
    gateway = build(home, master_key=master_key, config=config, retry_policy=retry_policy, engines=engines)
    try:
        with TestClient(
            gateway.app(), base_url="http://127.0.0.1:8000", raise_server_exceptions=False
        ) as http:
            yield http
    finally:
        gateway.client.close()


@contextmanager
def serving(
    home: Path,
    *,
    master_key: str | None = None,
    config: str | None = None,
    retry_policy: RetryPolicy | None = None,
    engines: bool = False,
) -> Iterator[str]:
    """The gateway in this process on a free loopback port (uvicorn on a thread, as ``serve``
    runs it), for clients in other processes and streams read as they are written; yields its
    base URL."""
    gateway = build(home, master_key=master_key, config=config, retry_policy=retry_policy, engines=engines)
    server = uvicorn.Server(
        uvicorn.Config(
            gateway.app(), host="127.0.0.1", port=free_port(), log_level="warning", access_log=False
        )
    )
    thread = threading.Thread(target=server.run, name="gateway", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the in-process gateway did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        gateway.client.close()


@contextmanager
def running_gateway(home: Path, *, master_key: str | None = None, config: str | None = None) -> Iterator[str]:
    """Start the gateway as a user would (the console script) and yield its base URL; what it
    writes to stderr (its log) goes to ``home/gateway.log``."""
    env = dict(os.environ, WEIGHBRIDGE_HOME=str(home))
    env.pop("WEIGHBRIDGE_MASTER_KEY", None)
    if master_key:
        env["WEIGHBRIDGE_MASTER_KEY"] = master_key
    args = [WEIGHBRIDGE]
    home.mkdir(parents=True, exist_ok=True)
    if config is not None:
        (home / "config.toml").write_text(config)
    port = free_port()
    log = home / "gateway.log"
    with log.open("ab") as sink:
        proc = subprocess.Popen(
            [*args, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=sink
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, proc, log)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def wait_until_healthy(base: str, proc: subprocess.Popen[bytes], log: Path | None = None) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            said = (
                log.read_text(errors="replace")
                if log is not None
                else proc.stderr.read().decode(errors="replace")
                if proc.stderr
                else ""
            )
            raise RuntimeError(f"the gateway did not start: {said}")
        time.sleep(0.1)


def priced_upstream(url: str, provider: str, model: str) -> str:
    """Config for a model served by an OpenAI-wire upstream at ``url``, priced like gpt-4o-mini."""
    return f"""
[providers.{provider}]
type = "openai"
base_url = "{url}"

[models.{model}]
provider = "{provider}"
model = "gpt-4o-mini"
price = {{ input_per_mtok = 0.15, output_per_mtok = 0.6, as_of = "2024-07-18", source = "test" }}
"""
