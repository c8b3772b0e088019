"""kill -9 under load: the store still opens, its chain verifies, and every request that got
a complete response is in it."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx

from tests.support.cli import WEIGHBRIDGE
from tests.support.gateway import settings_for, wait_until_healthy
from tests.support.servers import free_port


def test_kill_9_loses_no_answered_request(home: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [WEIGHBRIDGE, "serve", "--port", str(port)],
        env=dict(os.environ, WEIGHBRIDGE_HOME=str(home)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    wait_until_healthy(base, proc)

    answered: list[str] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=base, timeout=30) as http:
            while not stop.is_set():
                try:
                    reply = http.post(
                        "/v1/chat/completions",
                        json={
                            "model": "smollm2-135m",
                            "messages": [{"role": "user", "content": "hi"}],
                            "max_tokens": 4,
                        },
                    )
                except httpx.HTTPError:
                    return  # the server died under us: this request was never answered
                if reply.status_code == 200:
                    answered.append("wb-" + reply.json()["id"].removeprefix("chatcmpl-"))

    workers = [threading.Thread(target=load) for _ in range(6)]
    for w in workers:
        w.start()
    until = time.monotonic() + 60
    while len(answered) < 8 and time.monotonic() < until:  # kill it mid-load, answers flowing
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.stderr is not None
    proc.stderr.close()
    stop.set()
    for w in workers:
        w.join(timeout=30)

    assert len(answered) >= 8
    store = settings_for(home).open_store()
    try:
        verdict = store.verify()
        stored = {record.id for record in store.export()}
    finally:
        store.close()
    assert verdict.ok, verdict
    assert set(answered) <= stored
