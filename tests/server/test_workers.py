"""``weighbridge serve --workers 2`` on the embedded model: two processes answer on one port,
one engine serves both, and killing the worker that runs it leaves the other to take it over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.cli import WEIGHBRIDGE, invoke
from tests.support.gateway import wait_until_healthy
from tests.support.servers import free_port
from weighbridge.engines.binary import find_llama_server
from weighbridge.engines.status import running_engines


def workers_of(pid: int) -> list[int]:
    """uvicorn's worker processes (spawned by multiprocessing, beside its resource tracker)."""
    found = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return [p for p in found if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]


def chat(base: str, word: str) -> httpx.Response:
    """One short request; a worker that dies under it is answered by the other on a retry."""
    for _ in range(20):
        try:
            reply = httpx.post(
                base + "/v1/chat/completions",
                json={
                    "model": "smollm2-135m",
                    "messages": [{"role": "user", "content": f"Say the word {word}."}],
                    "max_tokens": 4,
                },
                timeout=60,
            )
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        if reply.status_code != 503:
            return reply
        time.sleep(0.2)
    raise AssertionError("no worker answered")


@pytest.mark.skipif(find_llama_server() is None, reason="no llama-server was built here")
@pytest.mark.long(30)
def test_two_workers_share_one_engine_and_survive_losing_its_owner(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (home / "serve.log").open("ab") as log:
        proc = subprocess.Popen(
            [WEIGHBRIDGE, "serve", "--port", str(port), "--workers", "2"],
            env=dict(os.environ, WEIGHBRIDGE_HOME=str(home)),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        wait_until_healthy(base, proc, home / "serve.log")
        deadline = time.monotonic() + 30
        while len(workers_of(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(workers := workers_of(proc.pid)) == 2

        with ThreadPoolExecutor(8) as pool:
            replies = list(pool.map(lambda n: chat(base, f"w{n}"), range(24)))
        assert all(r.status_code == 200 for r in replies), [r.text for r in replies if r.status_code != 200]
        [engine] = running_engines(home)  # one engine on the machine, not one per worker
        assert engine.parent_pid in workers
        deadline = time.monotonic() + 5  # its state file is written twice a second
        while (engine := running_engines(home)[0]).served == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert engine.served < 24  # the other worker's requests went to it as a borrower

        os.kill(engine.parent_pid, signal.SIGKILL)  # the worker running the engine; it dies too
        replies = [chat(base, f"after{n}") for n in range(6)]
        assert all(r.status_code == 200 for r in replies)
        [again] = running_engines(home)
        assert again.pid != engine.pid and again.parent_pid != engine.parent_pid

        logged = invoke("logs", "--json", "-n", "100").stdout.splitlines()
        assert sum(json.loads(line)["status"] == "ok" for line in logged) >= 30
        assert invoke("audit", "verify").returncode == 0
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "Traceback" not in (home / "serve.log").read_text()


def test_workers_refuse_in_process_models() -> None:
    done = invoke("serve", "--workers", "2", "--engine", "in-process")
    assert done.returncode == 2 and "every worker would load every local model" in done.stderr
