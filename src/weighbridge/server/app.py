"""The gateway application: routes that parse, check access, call the client, and answer in
the caller's protocol. Translation and error mapping live beside it as pure functions; both
protocols share one dispatch path, so they cannot drift apart in how they meter, log or fail."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from typing import Protocol as TypingProtocol

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from weighbridge.client import Client
from weighbridge.config import Settings
from weighbridge.errors import WeighbridgeError
from weighbridge.evidence.advisor import EvidenceAdvisor
from weighbridge.evidence.page import evidence_routes
from weighbridge.providers.retry import RetryPolicy
from weighbridge.server import anthropic_wire, images_wire, openai_wire, text_wire
from weighbridge.server.access import NOTHING_HELD, Access, Caller, Hold, invalid_key, presented_key
from weighbridge.server.body import read_json
from weighbridge.server.errors import HTTPFailure, Protocol, Refused, failure_for
from weighbridge.server.metrics import Metrics
from weighbridge.server.sessions import Sessions, cross_site, csrf_ok
from weighbridge.server.task import with_header
from weighbridge.store import Store
from weighbridge.store.pictures import MEDIA_TYPES, Pictures
from weighbridge.store.recorder import Recorder
from weighbridge.streaming import AsyncStream
from weighbridge.targets import availability, resolve
from weighbridge.types import ChatRequest, ChatResponse, Metered, StreamChunk
from weighbridge.web.routes import Arena, web_routes

if TYPE_CHECKING:
    from weighbridge.engines.pool import Engines

Handler = Callable[[Request, Caller], Awaitable[Response]]
log = logging.getLogger("weighbridge.gateway")


class Frames(TypingProtocol):
    """How one protocol frames a stream: events per chunk, a clean end, an error event."""

    def frames(self, chunk: StreamChunk) -> list[bytes]: ...
    def closing(self) -> list[bytes]: ...
    def error(self, failure: HTTPFailure) -> bytes: ...


@dataclass(frozen=True)
class Wire:
    """One protocol's translation functions, as the dispatch path needs them."""

    protocol: Protocol
    parse: Callable[[object], tuple[Any, ChatRequest]]
    whole: Callable[[ChatResponse, str], dict[str, Any]]
    frames: Callable[[str, Any], Frames]


class _OpenAIFrames:
    def __init__(self, stream_id: str, body: openai_wire.ChatCompletionBody) -> None:
        self._writer = openai_wire.ChunkWriter(stream_id, body.model, include_usage=body.include_usage)

    def frames(self, chunk: StreamChunk) -> list[bytes]:
        return [_sse(piece) for piece in self._writer.chunks(chunk)]

    def closing(self) -> list[bytes]:
        return [b"data: [DONE]\n\n"]

    def error(self, failure: HTTPFailure) -> bytes:
        return _sse(failure.body("openai"))


class _AnthropicFrames:
    def __init__(self, stream_id: str, body: anthropic_wire.MessagesBody) -> None:
        self._writer = anthropic_wire.EventWriter(stream_id, body.model)

    def frames(self, chunk: StreamChunk) -> list[bytes]:
        return [anthropic_wire.sse(event) for event in self._writer.events(chunk)]

    def closing(self) -> list[bytes]:
        return [anthropic_wire.sse(event) for event in self._writer.close()]

    def error(self, failure: HTTPFailure) -> bytes:
        return anthropic_wire.sse(failure.body("anthropic"))


OPENAI = Wire("openai", openai_wire.parse_chat_body, openai_wire.completion_json, _OpenAIFrames)
ANTHROPIC = Wire(
    "anthropic", anthropic_wire.parse_messages_body, anthropic_wire.message_json, _AnthropicFrames
)


class Gateway:
    """The state the routes share: the client, and who may call it."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        engines: Engines | None = None,
        retry_policy: RetryPolicy | None = None,
        master_key: str | None = None,
        preload: list[str] | None = None,
    ) -> None:
        """``engines`` runs local models on supervised engines (``serve``'s default); without
        them they run in-process. The metrics count what the client's recorder logs."""
        self.metrics = Metrics()
        recorder = Recorder(store or settings.open_store(), observers=[self.metrics.observe])
        self.client = Client(
            settings,
            recorder=recorder,
            engines=engines,
            retry_policy=retry_policy,
            source="gateway",
            advisor=EvidenceAdvisor,
        )
        self.engines = engines
        self.preload = preload or []
        self.access = Access(recorder.store, master_key, settings.routes)
        self.sessions = Sessions(recorder.store)
        self.arena = Arena(self)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """Engines asked for with ``--preload`` start before the first request; every engine
        stops with the gateway, and so do its upstream connections."""
        engines = self.engines
        if engines is not None:
            for name in self.preload:
                await engines.engine_for(resolve(self.client.settings, name))
        advisor = self.client.planner.advisor
        if isinstance(advisor, EvidenceAdvisor):  # auto routes answer the first request from memory too
            await asyncio.to_thread(advisor.snapshot)
        try:
            yield
        finally:
            if engines is not None:
                await engines.aclose()
            await self.client.aclose()

    def app(self) -> Starlette:
        return Starlette(
            lifespan=self.lifespan,
            routes=[
                Route("/health", self.health, methods=["GET"]),
                Route("/metrics", self.guard("openai", self.prometheus), methods=["GET"]),
                Route("/v1/models", self.guard("openai", self.models), methods=["GET"]),
                Route("/v1/chat/completions", self.guard("openai", self.chat(OPENAI)), methods=["POST"]),
                Route("/v1/messages", self.guard("anthropic", self.chat(ANTHROPIC)), methods=["POST"]),
                Route("/v1/completions", self.guard("openai", self.completions), methods=["POST"]),
                Route("/v1/embeddings", self.guard("openai", self.embeddings), methods=["POST"]),
                Route("/v1/images/generations", self.guard("openai", self.images), methods=["POST"]),
                Route("/v1/images/files/{name}", self.picture, methods=["GET"]),
                Route("/tokenize", self.guard("openai", self.tokenize), methods=["POST"]),
                Route("/detokenize", self.guard("openai", self.detokenize), methods=["POST"]),
                Route("/tokenizer_info", self.guard("openai", self.tokenizer_info), methods=["GET"]),
                *web_routes(self),
                *evidence_routes(self),
            ],
            exception_handlers={HTTPException: self.no_route},
        )

    async def no_route(self, request: Request, exc: Exception) -> Response:
        """An unknown path (404) or a wrong method (405), answered in JSON in the caller's
        protocol as the providers' own APIs answer it, never as plain text."""
        assert isinstance(exc, HTTPException)
        protocol: Protocol = (
            "anthropic"
            if request.url.path.startswith("/v1/messages") or "anthropic-version" in request.headers
            else "openai"
        )
        if exc.status_code == 405:
            allowed = (exc.headers or {}).get("Allow", "")
            message = f"{request.method} is not allowed on {request.url.path} (allowed: {allowed})"
        elif exc.status_code == 404:
            message = f"no such route: {request.method} {request.url.path}"
        else:
            message = exc.detail
        failure = HTTPFailure(
            exc.status_code, message, code="unknown_url" if exc.status_code == 404 else None
        )
        return JSONResponse(failure.body(protocol), status_code=exc.status_code, headers=exc.headers)

    def guard(self, protocol: Protocol, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """Identify the caller, then run ``handler``; every failure becomes the protocol's error
        body, and nothing unexpected ever reaches the caller as a traceback.

        A key in a header wins; without one, the page's session cookie stands for its key, and
        then a state-changing request must carry the session's CSRF token too. A request with no
        key of its own that a browser sent from another site's page is refused: it would be
        spending the visitor's session, or a loopback gateway's open door. (A page cannot add a
        key header to a cross-site request without a CORS preflight, which is never granted.)"""

        async def guarded(request: Request) -> Response:
            try:
                presented = presented_key(request)
                if presented is None and cross_site(request):  # riding ambient trust: a cookie, or loopback
                    raise Refused(HTTPFailure(403, "a request from another site's page is refused"))
                if presented is None and (session := await self.sessions.find(request)) is not None:
                    if not csrf_ok(request, session):
                        raise Refused(HTTPFailure(403, "missing or wrong CSRF token", code="csrf_failed"))
                    caller = await self.access.identify_digest(session.key_digest)
                    if caller is None:  # its key was revoked
                        raise invalid_key()
                    return await handler(request, caller)
                return await handler(request, await self.access.identify(presented))
            except WeighbridgeError as exc:
                return error_response(failure_for(exc), protocol)
            except Refused as refused:
                return error_response(refused.failure, protocol)
            except Exception:
                log.exception("unexpected failure on %s", request.url.path)
                return error_response(HTTPFailure(500, "internal error in the gateway"), protocol)

        return guarded

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def prometheus(self, request: Request, caller: Caller) -> Response:
        if caller.key is not None:  # spend across all keys is for the operator, not for each key
            raise Refused(HTTPFailure(403, "metrics need the master key"))
        return Response(
            self.metrics.render(self.client.planner.breakers), media_type="text/plain; version=0.0.4"
        )

    async def models(self, request: Request, caller: Caller) -> Response:
        settings = self.client.settings
        runnable = [
            (model_id, entry.vendor or "weighbridge")
            for model_id, entry in settings.catalog.models.items()
            if entry.modality == "chat"
            and (caller.key is None or caller.key.allows(model_id))
            and availability(settings, model_id)[0]
        ]
        return JSONResponse(openai_wire.models_json(runnable))

    def chat(self, wire: Wire) -> Handler:
        async def handle(request: Request, caller: Caller) -> Response:
            body, chat = wire.parse(await read_json(request))
            blind = self.arena.unblind(chat.model, caller)
            if blind is not None:
                chat = chat.model_copy(update={"model": blind})
            chat = with_header(chat, request.headers)
            await self.access.admit(caller, chat.model)
            planner = self.client.planner
            held = await self.access.reserve(
                caller,
                lambda: planner.max_cost_usd(chat),
                chat.model,
                per_target=(lambda: planner.worst_costs(chat).values())
                if chat.model in planner.settings.routes
                else None,
            )
            within = held.within_usd
            try:
                if not getattr(body, "stream", False):
                    response = await self.client.asend(
                        chat, source="gateway", key_name=caller.name, within_usd=within
                    )
                    await self.access.release(held)
                    held = NOTHING_HELD
                    return JSONResponse(
                        wire.whole(response, body.model), headers=_served_by(response, blind is not None)
                    )
                tagged = await self.client.planner.classify(chat)
                stream = self.client.asend_stream(
                    chat, source="gateway", key_name=caller.name, tagged=tagged, within_usd=within
                )
                first = await _next(stream)  # failures before any output still get a proper status
            except BaseException:
                await self.access.release(held)
                raise
            frames = wire.frames(stream.id, body)
            return StreamingResponse(
                self._relay(stream, first, frames, held),
                media_type="text/event-stream",
                headers=_served_by(stream, blind is not None),
            )

        return handle

    async def completions(self, request: Request, caller: Caller) -> Response:
        """Text completions; a batch of prompts is answered in order, one choice each."""
        body, asked = text_wire.parse_completion_body(await read_json(request))
        await self.access.admit(caller, body.model)
        held = await self.access.reserve(
            caller, lambda: sum(self.client.planner.max_cost_usd(one) for one in asked)
        )
        answers = []
        try:
            for one in asked:
                answers.append(await self.client.acomplete_text(one, source="gateway", key_name=caller.name))
        finally:
            await self.access.release(held)
        return JSONResponse(text_wire.completion_json(answers, body.model), headers=_served_by(answers[0]))

    async def embeddings(self, request: Request, caller: Caller) -> Response:
        body, asked = text_wire.parse_embeddings_body(await read_json(request))
        await self.access.admit(caller, body.model)
        held = await self.access.reserve(caller, lambda: self.client.planner.max_cost_usd(asked))
        try:
            answer = await self.client.aembed(asked, source="gateway", key_name=caller.name)
        finally:
            await self.access.release(held)
        return JSONResponse(text_wire.embeddings_json(answer, body), headers=_served_by(answer))

    async def images(self, request: Request, caller: Caller) -> Response:
        """Pictures from a prompt, in OpenAI's Images API shape (b64_json or a URL to fetch)."""
        body, asked = images_wire.parse_images_body(await read_json(request))
        blind = self.arena.unblind(asked.model, caller, "image")
        if blind is not None:
            asked = asked.model_copy(update={"model": blind})
        await self.access.admit(caller, asked.model)
        held = await self.access.reserve(caller, lambda: self.client.planner.max_cost_usd(asked))
        as_url = body.response_format == "url"
        try:
            answer = await self.client.agenerate_images(
                asked, source="gateway", key_name=caller.name, for_url=as_url
            )
        finally:
            await self.access.release(held)
        urls = None
        if as_url:
            base = str(request.base_url).rstrip("/")
            urls = [f"{base}/v1/images/files/{image.sha256}.{image.format}" for image in answer.images]
        # the log id, as a chat answer's id carries it: what an arena vote names the picture by
        headers = {**_served_by(answer, blind is not None), "x-weighbridge-id": answer.id}
        return JSONResponse(images_wire.images_json(answer, asked, urls), headers=headers)

    async def picture(self, request: Request) -> Response:
        """A picture the gateway made, by the name its URL gave: open as OpenAI's signed URLs
        are (an ``<img>`` cannot send a key), and unguessable, being the picture's sha256."""
        name = request.path_params["name"]
        path = await asyncio.to_thread(Pictures(self.client.settings.home).find, name)
        if path is None:
            failure = HTTPFailure(
                404, "no such picture (pictures kept only for their URL expire after an hour)"
            )
            return error_response(failure, "openai")
        return FileResponse(path, media_type=MEDIA_TYPES[path.suffix.lstrip(".")])

    async def tokenize(self, request: Request, caller: Caller) -> Response:
        body = text_wire.parse_tokenize_body(await read_json(request))
        model = await self._tokenizer_model(caller, body.model)
        tokens = await self.client.atokenizer(model, "tokenize", body.prompt, body.add_special_tokens)
        info = await self.client.atokenizer(model, "tokenizer_info")
        return JSONResponse(
            {"count": len(tokens), "max_model_len": info["model_max_length"], "tokens": tokens}
        )

    async def detokenize(self, request: Request, caller: Caller) -> Response:
        body = text_wire.parse_detokenize_body(await read_json(request))
        model = await self._tokenizer_model(caller, body.model)
        return JSONResponse({"prompt": await self.client.atokenizer(model, "detokenize", body.tokens)})

    async def tokenizer_info(self, request: Request, caller: Caller) -> Response:
        model = await self._tokenizer_model(caller, request.query_params.get("model"))
        return JSONResponse(await self.client.atokenizer(model, "tokenizer_info"))

    async def _tokenizer_model(self, caller: Caller, model: str | None) -> str:
        """vLLM's tokenizer routes name no model (it serves one): the default model then."""
        model = model or self.client.settings.default_model
        await self.access.admit(caller, model)
        return model

    async def _relay(
        self, stream: AsyncStream, first: StreamChunk | None, frames: Frames, held: Hold
    ) -> AsyncIterator[bytes]:
        """The stream to the caller; a failure after output becomes an error event with no
        clean end, and the budget's hold ends whatever happens (a caller hanging up included)."""
        chunk = first
        try:
            while chunk is not None:
                for frame in frames.frames(chunk):
                    yield frame
                chunk = await _next(stream)
            for frame in frames.closing():
                yield frame
        except WeighbridgeError as exc:
            yield frames.error(failure_for(exc))
        finally:
            await stream.aclose()
            await self.access.release(held)


def error_response(failure: HTTPFailure, protocol: Protocol) -> JSONResponse:
    return JSONResponse(failure.body(protocol), status_code=failure.status, headers=failure.headers())


async def _next(stream: AsyncStream) -> StreamChunk | None:
    try:
        return await stream.__anext__()
    except StopAsyncIteration:
        return None


def _sse(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


def _served_by(answer: Metered | AsyncStream, blind: bool = False) -> dict[str, str]:
    """Which model and provider answered, and why, for clients and proxies that want to know;
    nothing for a blind arena answer, whose model is revealed by the vote alone."""
    if blind:
        return {}
    headers = {"x-weighbridge-model": answer.model, "x-weighbridge-provider": answer.provider}
    route = (
        answer.route
        if isinstance(answer, AsyncStream)
        else ((answer.route, answer.route_reason or "") if answer.route else None)
    )
    if route is not None:
        headers["x-weighbridge-route"] = route[0]
        headers["x-weighbridge-route-reason"] = route[1].encode("ascii", "replace").decode()
    return headers
