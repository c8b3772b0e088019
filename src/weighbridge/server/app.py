"""The gateway application: routes that parse, call the client, and answer in the caller's
protocol. Everything else (translation, error mapping) lives beside it as pure functions."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from weighbridge.client import AsyncStream, Client
from weighbridge.errors import InvalidRequestError, WeighbridgeError
from weighbridge.server import openai_wire
from weighbridge.server.errors import HTTPFailure, Protocol, failure_for
from weighbridge.targets import availability
from weighbridge.types import ChatResponse, StreamChunk

#: Request bodies above this are refused with 413 before they are read whole.
MAX_BODY_BYTES = 16 * 1024 * 1024
Handler = Callable[[Request], Awaitable[Response]]


class Gateway:
    """The state the routes share: the client, and the master key's digest (never the key)."""

    def __init__(self, client: Client, *, master_key: str | None = None) -> None:
        self.client = client
        self._master_digest = _digest(master_key) if master_key else None

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/health", self.health, methods=["GET"]),
                Route("/v1/models", self.guard("openai", self.models), methods=["GET"]),
                Route("/v1/chat/completions", self.guard("openai", self.chat_completions), methods=["POST"]),
            ]
        )

    # -- plumbing ---------------------------------------------------------------------

    def guard(self, protocol: Protocol, handler: Handler) -> Handler:
        """Authenticate, then run ``handler``; any error becomes the protocol's error body."""

        async def guarded(request: Request) -> Response:
            try:
                self._authenticate(request)
                return await handler(request)
            except WeighbridgeError as exc:
                return error_response(failure_for(exc), protocol)
            except _Refused as refused:
                return error_response(refused.failure, protocol)

        return guarded

    def _authenticate(self, request: Request) -> None:
        if self._master_digest is None:
            return
        presented = request.headers.get("x-api-key") or _bearer(request.headers.get("authorization"))
        if not presented:
            raise _Refused(
                HTTPFailure(401, "no API key: send it as 'Authorization: Bearer KEY' or 'x-api-key'")
            )
        if not secrets.compare_digest(_digest(presented), self._master_digest):
            raise _Refused(HTTPFailure(401, "invalid API key", code="invalid_api_key"))

    # -- routes -----------------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def models(self, request: Request) -> Response:
        settings = self.client.settings
        runnable = [
            (model_id, entry.vendor or "weighbridge")
            for model_id, entry in settings.catalog.models.items()
            if entry.modality == "chat" and availability(settings, model_id)[0]
        ]
        return JSONResponse(openai_wire.models_json(runnable))

    async def chat_completions(self, request: Request) -> Response:
        body, chat = openai_wire.parse_chat_body(await read_json(request))
        if not body.stream:
            response = await self.client.asend(chat, source="gateway")
            return JSONResponse(
                openai_wire.completion_json(response, body.model), headers=_served_by(response)
            )
        stream = self.client.asend_stream(chat, source="gateway")
        first = await _next(stream)  # failures before any output still get a proper status
        writer = openai_wire.ChunkWriter(stream.id, body.model, include_usage=body.include_usage)

        async def events() -> AsyncIterator[bytes]:
            chunk = first
            try:
                while chunk is not None:
                    for piece in writer.chunks(chunk):
                        yield _sse(piece)
                    chunk = await _next(stream)
                yield b"data: [DONE]\n\n"
            except WeighbridgeError as exc:  # after output: an error event, and no [DONE]
                yield _sse(failure_for(exc).body("openai"))
            finally:
                await stream.aclose()

        return StreamingResponse(events(), media_type="text/event-stream", headers=_served_by(stream))


class _Refused(Exception):
    def __init__(self, failure: HTTPFailure) -> None:
        self.failure = failure


def error_response(failure: HTTPFailure, protocol: Protocol) -> JSONResponse:
    return JSONResponse(failure.body(protocol), status_code=failure.status, headers=failure.headers())


async def read_json(request: Request) -> Any:
    """The request's JSON body; a too-large or malformed body is the caller's error."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _Refused(HTTPFailure(413, f"request body over {MAX_BODY_BYTES // (1024 * 1024)} MiB"))
    raw = bytearray()
    async for piece in request.stream():
        raw += piece
        if len(raw) > MAX_BODY_BYTES:
            raise _Refused(HTTPFailure(413, f"request body over {MAX_BODY_BYTES // (1024 * 1024)} MiB"))
    try:
        return json.loads(raw)
    except ValueError:
        raise InvalidRequestError("the request body is not valid JSON") from None


async def _next(stream: AsyncStream) -> StreamChunk | None:
    try:
        return await stream.__anext__()
    except StopAsyncIteration:
        return None


def _sse(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


def _served_by(answer: ChatResponse | AsyncStream) -> dict[str, str]:
    """Which model and provider answered, for clients and proxies that want to know."""
    return {"x-weighbridge-model": answer.model, "x-weighbridge-provider": answer.provider}


def _bearer(value: str | None) -> str | None:
    if value and value.lower().startswith("bearer "):
        return value[7:].strip()
    return None


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
