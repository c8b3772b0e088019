"""A loopback HTTP server that replays scripted provider answers and records what it was sent.

Provider tests talk to it over real sockets through the real client (retries, logging and
all), so what they check is what would cross the wire: headers, URL, JSON body, and SSE bytes
split wherever the test likes. Each test enqueues replies in the order requests will come::

    with ReplayServer() as server:
        server.reply_json({"error": {...}}, status=429, headers={"Retry-After": "1"})
        server.reply_json(documented_body)
        ...  # point a provider's base_url at server.url, make the call
        assert len(server.requests) == 2

Streams are written piece by piece with a flush after each (and an optional pause), with
``Connection: close`` and no Content-Length, so the body ends when the socket closes, as an
SSE answer from a proxy that does not use chunked encoding would. That makes a stream cut
mid-way (``reply_cut``) look, on the wire, exactly like one that finished: only the events
tell them apart, which is what the providers must do. ``reset=True`` ends the connection
with a TCP reset instead; ``drop()`` closes it without answering at all.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from weighbridge.client import Client
from weighbridge.config import load_settings
from weighbridge.providers.retry import RetryPolicy
from weighbridge.types import StreamChunk


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received, as it arrived."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw_body: bytes
    received_at: float

    @property
    def raw(self) -> str:
        """Request line, headers and body as text, for "this never appears anywhere" checks."""
        head = "\n".join(f"{k}: {v}" for k, v in self.headers.items())
        return f"{self.method} {self.path}\n{head}\n\n{self.raw_body.decode('utf-8', 'replace')}"


@dataclass
class _Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    pieces: list[bytes] | None = None  # a stream, written piece by piece
    delay_s: float = 0.0
    reset: bool = False  # close with a TCP reset instead of an orderly close
    drop: bool = False  # close without sending a response at all


class LoopbackServer:
    """An HTTP server on 127.0.0.1 with a free port, served from a daemon thread while the
    ``with`` block lasts; subclasses give the handler class."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"


def received(handler: BaseHTTPRequestHandler) -> RecordedRequest:
    """The request ``handler`` is serving, read whole; its body parsed where it is JSON."""
    length = int(handler.headers.get("Content-Length") or 0)
    raw = handler.rfile.read(length) if length else b""
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    return RecordedRequest(
        method=handler.command,
        path=handler.path,
        headers={k.lower(): v for k, v in handler.headers.items()},
        body=body,
        raw_body=raw,
        received_at=time.monotonic(),
    )


class RecordingServer(LoopbackServer):
    """A loopback server that records every request (``requests``, in arrival order) before a
    subclass's :meth:`answer` writes the response; ``_lock`` guards what the handler threads share."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self._serve()

            def do_GET(self) -> None:
                self._serve()

            def log_message(self, format: str, *args: Any) -> None:
                return  # keep test output clean

            def _serve(self) -> None:
                recorded = received(self)
                with server._lock:
                    server.requests.append(recorded)
                server.answer(self, recorded)

        super().__init__(Handler)

    def answer(self, handler: BaseHTTPRequestHandler, request: RecordedRequest) -> None:
        raise NotImplementedError


class ReplayServer(RecordingServer):
    """A scripted HTTP server on 127.0.0.1 with a free port, run in a daemon thread."""

    def __init__(self) -> None:
        self._replies: deque[_Reply] = deque()
        super().__init__()

    @property
    def pending(self) -> int:
        """Replies enqueued but not yet used."""
        with self._lock:
            return len(self._replies)

    # -- scripting ------------------------------------------------------------------------

    def reply_json(self, body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> None:
        """Answer the next request with ``body`` as JSON (a str or bytes is sent verbatim)."""
        raw = (
            body
            if isinstance(body, bytes)
            else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
        )
        self._enqueue(_Reply(status, {"Content-Type": "application/json", **(headers or {})}, body=raw))

    def reply_sse(
        self,
        pieces: Iterable[bytes | str],
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        delay_s: float = 0.0,
        reset: bool = False,
    ) -> None:
        """Answer the next request with an event stream written as ``pieces``, then close.

        Each piece is written and flushed on its own, ``delay_s`` apart, so the client reads
        the body in those pieces (or coarser). ``reset`` makes the close a TCP reset.
        """
        data = [p.encode() if isinstance(p, str) else p for p in pieces]
        self._enqueue(
            _Reply(
                status,
                {"Content-Type": "text/event-stream", **(headers or {})},
                pieces=data,
                delay_s=delay_s,
                reset=reset,
            )
        )

    def reply_cut(self, pieces: Iterable[bytes | str], *, status: int = 200, reset: bool = False) -> None:
        """A stream that breaks off: ``pieces``, then the socket closes.

        This is how an answer looks when an upstream or a proxy dies mid-way: the start of
        the events, and nothing that says the answer is over.
        """
        self.reply_sse(pieces, status=status, reset=reset)

    def drop(self) -> None:
        """Close the next request's connection without sending a response."""
        self._enqueue(_Reply(drop=True))

    def _enqueue(self, reply: _Reply) -> None:
        with self._lock:
            self._replies.append(reply)

    def _next(self) -> _Reply | None:
        with self._lock:
            return self._replies.popleft() if self._replies else None

    # -- serving --------------------------------------------------------------------------

    def answer(self, handler: BaseHTTPRequestHandler, request: RecordedRequest) -> None:
        handler.close_connection = True
        reply = self._next()
        if reply is None:
            reply = _Reply(
                500,
                {"Content-Type": "application/json"},
                body=b'{"error": {"message": "replay server: no scripted reply left"}}',
            )
        if reply.drop:
            return
        handler.send_response(reply.status)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.send_header("Connection", "close")
        if reply.pieces is None:
            handler.send_header("Content-Length", str(len(reply.body)))
            handler.end_headers()
            handler.wfile.write(reply.body)
            return
        handler.end_headers()
        handler.wfile.flush()
        try:
            for i, piece in enumerate(reply.pieces):
                if i and reply.delay_s:
                    time.sleep(reply.delay_s)
                handler.wfile.write(piece)
                handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return  # the client stopped reading: nothing more to do
        if reply.reset:
            time.sleep(0.05)  # let the client read what was sent before the reset
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            # Close here: socketserver would shut down writing first, and that FIN
            # would reach the client as a clean end of the body before the reset.
            # (wfile writes to the socket directly; rfile holds the last reference.)
            handler.connection.close()
            handler.rfile.close()


def sse(*events: str, sep: str = "\n\n") -> bytes:
    """Events (each the ``event:`` and ``data:`` lines of one event) as one SSE body."""
    return "".join(e.strip("\n") + sep for e in events).encode()


def split_bytes(data: bytes, size: int) -> list[bytes]:
    """``data`` in pieces of ``size`` bytes: splits land inside fields and UTF-8 characters."""
    return [data[i : i + size] for i in range(0, len(data), size)]


@contextmanager
def client_for(
    server: ReplayServer, home: Path, provider: str, model: str, upstream: str
) -> Iterator[Client]:
    """A real client whose ``provider`` points at ``server``, serving ``model`` as ``upstream``;
    retries wait milliseconds so the suite stays fast (Retry-After is still honoured)."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "config.toml"
    config.write_text(
        f'[providers.{provider}]\nbase_url = "{server.url}"\n\n'
        f'[models.{model}]\nprovider = "{provider}"\nmodel = "{upstream}"\nmax_output_tokens = 2048\n'
    )
    policy = RetryPolicy(base_delay_s=0.01, max_retry_after_s=2)
    with Client(load_settings(config), retry_policy=policy) as client:
        yield client


def assert_key_not_kept(client: Client, key: str, *errors: BaseException) -> None:
    """The key is in no log record and no error the caller saw."""
    records = json.dumps([asdict(r) for r in client.store.recent(100)])
    assert key not in records
    for error in errors:
        assert key not in str(error) and key not in repr(error.args)


def drain(stream: Iterable[StreamChunk]) -> list[StreamChunk]:
    return list(stream)
