"""A real headless Chromium driven over the DevTools protocol, for the tests of the web page.

``browser`` (the fixture) is one tab of a fresh Chromium with its own profile; ``Page`` wraps
it: evaluate, wait, click, screenshot. Screenshots go under test-artifacts/web/. Modules that
use it set ``pytestmark = needs_chromium``, so they are skipped, saying so, on a machine
without Chromium (Debian: apt-get install chromium).
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.support.paths import ROOT
from tests.support.servers import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Chromium (Debian: apt-get install chromium)"
)
ARTIFACTS = ROOT / "test-artifacts" / "web"


class Page:
    """One Chromium tab over the DevTools protocol: evaluate, wait, click, screenshot."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.ids = itertools.count(1)

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """One DevTools call; ``session`` sends it to another target, such as an iframe kept in a
        process of its own, attached with ``Target.attachToTarget(flatten=True)``."""
        call = next(self.ids)
        message = {"id": call, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        self.socket.send(json.dumps(message))
        while True:
            message = json.loads(self.socket.recv(timeout=60))
            if message.get("id") == call:
                assert "error" not in message, message
                result: dict[str, Any] = message["result"]
                return result

    def js(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def wait(self, expression: str, timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for: {expression}")

    def go(self, url: str) -> None:
        self.send("Page.navigate", url=url)
        self.wait("document.readyState === 'complete' && !!document.getElementById('ask-form')")

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        (ARTIFACTS / f"{name}.png").write_bytes(base64.b64decode(data))

    def pick(self, *models: str) -> None:
        self.js(
            "for (const box of document.querySelectorAll('#models input')) "
            f"box.checked = {json.dumps(list(models))}.includes(box.value); true"
        )

    def fill(self, field: str, value: object) -> None:
        self.js(f"document.getElementById({json.dumps(field)}).value = {json.dumps(value)}; true")

    def click(self, selector: str) -> None:
        self.js(f"document.querySelector({json.dumps(selector)}).click(); true")

    def statuses(self) -> list[str]:
        value: list[str] = self.js("[...document.querySelectorAll('.column .state')].map(s => s.textContent)")
        return value


@pytest.fixture(name="browser")
def chromium_tab(tmp_path: Path) -> Iterator[Page]:
    """A tab of a fresh headless Chromium; the browser is closed after the test."""
    assert CHROMIUM is not None
    port = free_port()
    proc = subprocess.Popen(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            f"--user-data-dir={tmp_path / 'chromium'}",
            f"--remote-debugging-port={port}",
            "--window-size=1280,900",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=1).json()
                pages = [t for t in targets if t["type"] == "page"]
                if pages:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "Chromium did not start"
            time.sleep(0.1)
        with connect(pages[0]["webSocketDebuggerUrl"], max_size=None) as socket:
            page = Page(socket)
            page.send("Page.enable")
            yield page
    finally:
        proc.terminate()
        proc.wait(timeout=15)
