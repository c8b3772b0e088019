"""A real ``weighbridge serve`` on a free loopback port, for the tests that talk to it."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import WEIGHBRIDGE, free_port


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
                else proc.stderr.read()
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
