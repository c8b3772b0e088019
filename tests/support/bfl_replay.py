"""Black Forest Labs' FLUX API on loopback, for tasks that run at once.

A :class:`~tests.support.replay.ReplayServer` answers requests in the order they come, which
is right for one task (submit, polls, download) but not for several polled at once, whose
requests interleave as they please. This server keeps each task's state instead: every
``POST /v1/{model}`` starts a task, whose polls at ``/v1/get_result?id=`` answer ``Pending``
``pending`` times and then ``Ready``, with a signed-looking URL under ``/delivery/`` serving the
task's own picture (a PNG of a colour of its own). Every request is recorded.
"""

from __future__ import annotations

import json
import urllib.parse
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.image_samples import bfl_poll, bfl_ready, bfl_task, png
from tests.support.replay import RecordedRequest, RecordingServer


class FluxServer(RecordingServer):
    def __init__(self, *, pending: int = 2) -> None:
        self.pending = pending
        #: Each task's id: the body it was submitted with, and the picture it makes.
        self.tasks: dict[str, tuple[dict[str, Any], bytes]] = {}
        self._polls: dict[str, int] = {}
        super().__init__()

    def _answer(self, method: str, path: str, body: Any) -> tuple[int, str, bytes]:
        """Status, content type and body for one request."""
        parts = urllib.parse.urlsplit(path)
        with self._lock:
            if method == "POST" and parts.path.startswith("/v1/"):
                task_id = f"task-{len(self.tasks)}"
                self.tasks[task_id] = (body, png((40 * len(self.tasks), 90, 160)))
                return 200, "application/json", json.dumps(bfl_task(self.url, task_id)).encode()
            if parts.path == "/v1/get_result":
                task_id = urllib.parse.parse_qs(parts.query)["id"][0]
                if task_id not in self.tasks:
                    return 200, "application/json", json.dumps(bfl_poll("Task not found", task_id)).encode()
                self._polls[task_id] = polls = self._polls.get(task_id, 0) + 1
                if polls <= self.pending:
                    return 200, "application/json", json.dumps(bfl_poll("Pending", task_id)).encode()
                submitted, _ = self.tasks[task_id]
                sample = f"{self.url}/delivery/{task_id}/sample.png?se=2025-01-01T00%3A10Z&sig=replay"
                ready = bfl_ready(sample, submitted["prompt"], submitted.get("seed", 1234), task_id)
                return 200, "application/json", json.dumps(ready).encode()
            if parts.path.startswith("/delivery/"):
                return 200, "image/png", self.tasks[parts.path.split("/")[2]][1]
        return 404, "application/json", b'{"detail": "Not Found"}'

    def answer(self, handler: BaseHTTPRequestHandler, request: RecordedRequest) -> None:
        status, kind, content = self._answer(request.method, request.path, request.body)
        handler.send_response(status)
        handler.send_header("Content-Type", kind)
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        handler.wfile.write(content)
