"""A scripted OpenAI-wire upstream for compare runs (it answers by what it is asked and counts
what it was asked), the config naming its models, prompt files, and a run to read back."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from tests.support.replay import LoopbackServer, sse
from weighbridge.client import Client
from weighbridge.compare import promptset, runner
from weighbridge.compare.results import Results, load

PRICE = '{ input_per_mtok = 0.15, output_per_mtok = 0.6, as_of = "2024-07-18", source = "test" }'
CHEAP = '{ input_per_mtok = 0.05, output_per_mtok = 0.2, as_of = "2024-07-18", source = "test" }'

#: What the upstream says: the text, or (HTTP status, text, seconds to hold the stream open).
Reply = str | tuple[int, str, float]


class Upstream(LoopbackServer):
    """An OpenAI-wire upstream on loopback that answers by what it is asked.

    The runner sends cells concurrently, so an upstream replaying answers in arrival order
    (tests/support/replay.py) would hand them to whichever request came first; this one picks
    the answer from the request (its upstream model and last user message) and records every
    request, which is what the cache and resume tests count.
    """

    def __init__(self, respond: Callable[[str, str], Reply]) -> None:
        self.respond = respond
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        super().__init__(self._handler())

    def asked(self, model: str) -> list[str]:
        """The last user message of each request for ``model``, in arrival order."""
        with self._lock:
            return [b["messages"][-1]["content"] for b in self.requests if b["model"] == model]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with upstream._lock:
                    upstream.requests.append(body)
                reply = upstream.respond(body["model"], body["messages"][-1]["content"])
                status, text, hold = (200, reply, 0.0) if isinstance(reply, str) else reply
                self.close_connection = True
                if status != 200:
                    self._send(status, "application/json", json.dumps({"error": {"message": text}}).encode())
                elif body.get("stream"):
                    self._stream(text, hold)
                else:
                    self._send(200, "application/json", json.dumps(completion(text)).encode())

            def _send(self, status: int, kind: str, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, text: str, hold: float) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                first, *rest = stream_events(text)
                try:
                    self.wfile.write(first)
                    self.wfile.flush()
                    time.sleep(hold)
                    for piece in rest:
                        self.wfile.write(piece)
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    return

        return Handler


def stream_events(text: str) -> list[bytes]:
    """An OpenAI chat-completions stream saying ``text``, with usage."""

    def event(body: dict[str, Any]) -> str:
        return "data: " + json.dumps(
            {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "snap-2024-07-18"} | body
        )

    return [
        sse(
            event(
                {
                    "choices": [
                        {"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": None}
                    ]
                }
            )
        ),
        sse(event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})),
        sse(event({"choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": 5}}), "data: [DONE]"),
    ]


def completion(text: str) -> dict[str, Any]:
    return {
        "id": "j",
        "object": "chat.completion",
        "created": 1,
        "model": "judge-1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 10},
    }


class Script:
    """Answers by upstream model and by a word in the question; mutable between runs."""

    def __init__(self) -> None:
        self.answers: dict[str, dict[str, Reply]] = {}

    def __call__(self, model: str, question: str) -> Reply:
        for key, reply in self.answers.get(model, {}).items():
            if key in question:
                return reply
        return (500, f"no scripted answer for {model}: {question[:60]}", 0.0)


#: Model -> (provider, price): each on its own provider, all served by the one upstream.
MODELS = {"cloud-a": ("cloud", PRICE), "cloud-b": ("rival", CHEAP), "judge": ("judges", PRICE)}


def config_text(url: str | None = None) -> str:
    """The compare models, each on a provider of its own (upstream id = model id), and one
    model whose key is not set. Each provider is the OpenAI wire to the upstream at ``url``,
    or, without one, a scripted provider (tests/support/scripted.py) named as in MODELS."""

    def served_by(provider: str) -> str:
        if url is None:
            return f'type = "scripted"\nbase_url = "scripted://{provider}"'
        return f'type = "openai"\nbase_url = "{url}"'

    parts = [
        f"[providers.{provider}]\n{served_by(provider)}\n\n"
        f'[models.{model}]\nprovider = "{provider}"\nmodel = "{model}"\nprice = {price}\n'
        for model, (provider, price) in MODELS.items()
    ]
    parts.append(
        '[providers.locked]\ntype = "openai"\nbase_url = "http://127.0.0.1:9/v1"\napi_key_env = "WB_TEST_LOCKED_KEY"\n\n'
        '[models.locked]\nprovider = "locked"\nmodel = "x"\n'
    )
    return "\n".join(parts)


def prompt_file(tmp_path: Path, rows: list[dict[str, Any]], name: str = "set.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


CAPITALS = [
    {"id": "fr", "prompt": "Capital of France?", "reference": "Paris"},
    {"id": "de", "prompt": "Capital of Germany?", "reference": "Berlin"},
    {"id": "it", "prompt": "Capital of Italy?", "reference": "Rome"},
    {"id": "es", "prompt": "Capital of Spain?", "reference": "Madrid"},
]


def run(client: Client, path: Path, progress: runner.Progress | None = None, **options: Any) -> Results:
    options.setdefault("models", ["cloud-a"])
    run_id = runner.run_sync(client, promptset.load(path), runner.RunOptions(**options), progress)
    return load(client.store, run_id)
