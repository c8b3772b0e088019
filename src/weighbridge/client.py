"""The client: a request goes to its target's provider, and comes back measured, priced, logged.

This is the one place that retries (through :mod:`weighbridge.retry`), times, prices and logs,
so every way in (library, CLI, later the gateway) behaves the same. It is async at heart; the
sync face runs the same coroutines on a private event-loop thread,
which keeps one code path for both.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
import uuid
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import ValidationError

from weighbridge.config import Settings, load_settings
from weighbridge.errors import InvalidRequestError, ProviderError, WeighbridgeError
from weighbridge.providers import retry
from weighbridge.providers.base import Provider, provider_factory
from weighbridge.store import InferenceRecord, Store
from weighbridge.targets import Target, resolve
from weighbridge.types import (
    ChatRequest,
    ChatResponse,
    Completion,
    Message,
    StreamChunk,
    ToolCall,
    Usage,
    validation_message,
)
from weighbridge.weights import weight_sha256

Messages = str | Sequence[Message | dict[str, Any]]
T = TypeVar("T")


class Client:
    """Calls models by name. ``Client()`` reads the user's config; tests pass ``settings``."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        store: Store | None = None,
        retry_policy: retry.RetryPolicy | None = None,
        source: str = "library",
    ) -> None:
        self.settings = settings or load_settings()
        self.store = store or Store(self.settings.db_path)
        self.retry_policy = retry_policy or retry.RetryPolicy()
        self.source = source
        # httpx clients are bound to the event loop they were made on: one set per loop.
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
            weakref.WeakKeyDictionary()
        )
        self._loop_thread: _LoopThread | None = None

    # -- async face -------------------------------------------------------------------

    async def achat(self, messages: Messages, *, model: str | None = None, **params: Any) -> ChatResponse:
        """One whole answer."""
        return await self.asend(self.request(messages, model, params))

    def astream(self, messages: Messages, *, model: str | None = None, **params: Any) -> AsyncStream:
        """The answer as it is generated; ``.response`` holds the whole once it ends."""
        return self.asend_stream(self.request(messages, model, params))

    def request(self, messages: Messages, model: str | None, params: dict[str, Any]) -> ChatRequest:
        """A validated request for ``model`` (the configured default when None)."""
        name = model or self.settings.default_model
        try:
            return ChatRequest(model=name, messages=messages, **params)  # type: ignore[arg-type]
        except ValidationError as exc:
            raise InvalidRequestError(validation_message(exc)) from None

    async def asend(
        self, request: ChatRequest, *, source: str | None = None, key_name: str | None = None
    ) -> ChatResponse:
        """One whole answer to a request already built (the gateway's way in)."""
        call = self._prepare(request, source, key_name)
        provider = self._provider(call.target)
        await call.hash_weights(self.store)
        try:
            completion = await retry.call(
                lambda: provider.complete(call.target, call.request), self.retry_policy
            )
        except WeighbridgeError as exc:
            self._log_failure(call, _scrubbed(exc, call.target), "error")
            raise _scrubbed(exc, call.target) from None
        response = call.response(completion, ttft_s=None, settings=self.settings)
        self._log(call, response, "ok")
        return response

    def asend_stream(
        self, request: ChatRequest, *, source: str | None = None, key_name: str | None = None
    ) -> AsyncStream:
        """The streamed answer to a request already built."""
        return AsyncStream(self, self._prepare(request, source, key_name))

    def max_cost_usd(self, request: ChatRequest) -> float:
        """The most ``request`` can cost, known before it is sent (for budget reservations)."""
        from weighbridge.costs import worst_case_usd

        call = self._prepare(request, None, None)
        entry = call.target.entry
        max_tokens = call.request.max_tokens or entry.max_output_tokens or entry.context_tokens or 4096
        chars = sum(len(m.text()) for m in call.request.messages)
        return worst_case_usd(
            entry,
            chars,
            max_tokens,
            runs_locally=call.target.runs_locally,
            self_hosting=self.settings.catalog.self_hosting,
        )

    # -- sync face --------------------------------------------------------------------

    def chat(self, messages: Messages, *, model: str | None = None, **params: Any) -> ChatResponse:
        return self._blocking().call(lambda: self.achat(messages, model=model, **params))

    def stream(self, messages: Messages, *, model: str | None = None, **params: Any) -> Stream:
        return Stream(self._blocking(), self.astream(messages, model=model, **params))

    def close(self) -> None:
        """Close the HTTP connections this client opened on its own loop, and the store."""
        if self._loop_thread is not None:
            state = self._loops.pop(self._loop_thread.loop, None)
            if state is not None:
                self._loop_thread.call(state.aclose)
            self._loop_thread.stop()
            self._loop_thread = None
        self.store.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------

    def _blocking(self) -> _LoopThread:
        if self._loop_thread is None:
            self._loop_thread = _LoopThread()
        return self._loop_thread

    def _prepare(self, request: ChatRequest, source: str | None, key_name: str | None = None) -> _Call:
        """Resolve the target and fill in what the model's entry supplies by default."""
        target = resolve(self.settings, request.model)
        if target.entry.defaults is not None:
            unset = {
                name: value
                for name, value in target.entry.defaults.model_dump(exclude_none=True).items()
                if getattr(request, name) is None
            }
            request = request.model_copy(update=unset)
        default_system = target.entry.system_prompt
        if default_system and request.system_text() is None:
            system = Message(role="system", content=default_system)
            request = request.model_copy(update={"messages": [system, *request.messages]})
        return _Call(request, target, self.settings, source or self.source, key_name)

    def _provider(self, target: Target) -> Provider:
        state = self._loops.setdefault(asyncio.get_running_loop(), _LoopState())
        provider = state.providers.get(target.provider_name)
        if provider is None:
            provider = provider_factory(target.provider.type)(state.http)
            state.providers[target.provider_name] = provider
        return provider

    def _log(self, call: _Call, response: ChatResponse, status: str) -> None:
        self.store.record(call.record(status, response=response))

    def _log_failure(
        self, call: _Call, error: WeighbridgeError, status: str, partial: ChatResponse | None = None
    ) -> None:
        self.store.record(call.record(status, response=partial, error=error))


class _LoopState:
    """What a client holds on one event loop: the shared HTTP pool and the providers using it."""

    def __init__(self) -> None:
        # Per-request timeouts come from each provider's entry; this only bounds connecting.
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(600, connect=10))
        self.providers: dict[str, Provider] = {}

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()
        await self.http.aclose()


class _LoopThread:
    """An event loop on a daemon thread, where the sync face runs its coroutines.

    A daemon thread never holds the interpreter open at exit, even if the client is never
    closed; ``stop()`` ends it cleanly when it is.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="weighbridge-loop", daemon=True)
        self._thread.start()

    def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        async def run() -> T:
            return await fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self.loop.close()


class _Call:
    """One request on its way: what was asked, where it goes, and the clock."""

    def __init__(
        self, request: ChatRequest, target: Target, settings: Settings, source: str, key_name: str | None
    ) -> None:
        self.request = request
        self.source = source
        self.key_name = key_name
        self.target = target
        self.retention = settings.retention
        self.id = "wb-" + uuid.uuid4().hex
        self.created_at = datetime.now(UTC).isoformat()
        self.started = time.perf_counter()
        self.weight_sha256: str | None = None

    async def hash_weights(self, store: Store) -> None:
        if self.target.is_file:
            path = Path(self.target.upstream)
            self.weight_sha256 = await asyncio.to_thread(weight_sha256, store, path)
            self.started = time.perf_counter()

    def response(self, completion: Completion, *, ttft_s: float | None, settings: Settings) -> ChatResponse:
        from weighbridge.costs import cost_usd

        latency = time.perf_counter() - self.started
        cost, basis = cost_usd(
            self.target.entry,
            completion.usage,
            latency_s=latency,
            runs_locally=self.target.runs_locally,
            self_hosting=settings.catalog.self_hosting,
        )
        return ChatResponse(
            **completion.model_dump(),
            id=self.id,
            model=self.target.model_id,
            provider=self.target.provider_name,
            latency_s=latency,
            ttft_s=ttft_s,
            cost_usd=cost,
            cost_basis=basis,
            weight_sha256=self.weight_sha256,
        )

    def record(
        self,
        status: str,
        *,
        response: ChatResponse | None = None,
        error: WeighbridgeError | None = None,
    ) -> InferenceRecord:
        asked = self.request.model_dump_json(exclude_none=True, exclude={"model"})
        answered = _answer_text(response) if response is not None else None
        return InferenceRecord(
            id=self.id,
            created_at=self.created_at,
            source=self.source,
            key_name=self.key_name,
            model=self.target.model_id,
            provider=self.target.provider_name,
            status=status,
            retention=self.retention,
            upstream_model=response.upstream_model if response else None,
            weight_sha256=self.weight_sha256,
            prompt_tokens=response.usage.prompt_tokens if response else None,
            completion_tokens=response.usage.completion_tokens if response else None,
            latency_ms=(response.latency_s if response else time.perf_counter() - self.started) * 1000,
            ttft_ms=response.ttft_s * 1000 if response and response.ttft_s is not None else None,
            cost_usd=response.cost_usd if response else None,
            cost_basis=response.cost_basis if response else None,
            finish_reason=response.finish_reason if response else None,
            error=error.message if error else None,
            request=_retained(asked, self.retention),
            response=_retained(answered, self.retention),
        )


class AsyncStream:
    """Chunks as they come. After the last, ``response`` is the whole answer, logged."""

    def __init__(self, client: Client, call: _Call) -> None:
        self._client = client
        self._call = call
        self._chunks = self._generate()
        self.response: ChatResponse | None = None
        #: What the stream cost so far, complete or not (for budgets).
        self.cost_usd: float | None = None

    @property
    def id(self) -> str:
        return self._call.id

    @property
    def model(self) -> str:
        return self._call.target.model_id

    @property
    def provider(self) -> str:
        return self._call.target.provider_name

    def __aiter__(self) -> AsyncGenerator[StreamChunk, None]:
        return self._chunks

    async def __anext__(self) -> StreamChunk:
        return await self._chunks.__anext__()

    async def aclose(self) -> None:
        await self._chunks.aclose()

    async def text(self) -> str:
        """Drain the stream and return the whole text."""
        async for _ in self._chunks:
            pass
        assert self.response is not None
        return self.response.content

    async def _generate(self) -> AsyncGenerator[StreamChunk, None]:
        call, client = self._call, self._client
        provider = client._provider(call.target)
        await call.hash_weights(client.store)
        assembler = Assembler()
        ttft: float | None = None
        status, error = "incomplete", None
        try:
            chunks = retry.stream(lambda: provider.stream(call.target, call.request), client.retry_policy)
            async for chunk in chunks:
                if ttft is None and (chunk.text or chunk.tool_calls):
                    ttft = time.perf_counter() - call.started
                assembler.add(chunk)
                yield chunk
            status = "ok"
        except WeighbridgeError as exc:
            status, error = ("incomplete" if assembler.started else "error"), _scrubbed(exc, call.target)
            raise error from None
        finally:
            response = call.response(assembler.completion(), ttft_s=ttft, settings=client.settings)
            self.cost_usd = response.cost_usd
            if status == "ok":
                self.response = response
                client._log(call, response, status)
            else:
                client._log_failure(call, error or _cancelled(call.target), status, response)


class Stream:
    """The sync twin of :class:`AsyncStream`, driven on the client's loop thread."""

    def __init__(self, runner: _LoopThread, inner: AsyncStream) -> None:
        self._runner = runner
        self._inner = inner

    def __iter__(self) -> Iterator[StreamChunk]:
        try:
            while True:
                try:
                    yield self._runner.call(self._inner.__anext__)
                except StopAsyncIteration:
                    return
        finally:
            self._runner.call(self._inner.aclose)

    @property
    def response(self) -> ChatResponse | None:
        return self._inner.response

    def text(self) -> str:
        for _ in self:
            pass
        assert self.response is not None
        return self.response.content


class Assembler:
    """Adds stream chunks up into one completion."""

    def __init__(self) -> None:
        self._text: list[str] = []
        self._calls: dict[int, ToolCall] = {}
        self._finish: Any = None
        self._usage: Usage | None = None
        self._upstream: str | None = None
        self.started = False

    def add(self, chunk: StreamChunk) -> None:
        self.started = self.started or bool(chunk.text or chunk.tool_calls)
        self._text.append(chunk.text)
        for delta in chunk.tool_calls:
            call = self._calls.setdefault(delta.index, ToolCall(id="", name=""))
            call.id = delta.id or call.id
            call.name = delta.name or call.name
            call.arguments += delta.arguments
        self._finish = chunk.finish_reason or self._finish
        self._usage = chunk.usage or self._usage
        self._upstream = chunk.upstream_model or self._upstream

    def completion(self) -> Completion:
        return Completion(
            content="".join(self._text),
            tool_calls=[self._calls[i] for i in sorted(self._calls)],
            finish_reason=self._finish,
            usage=self._usage or Usage(),
            upstream_model=self._upstream,
        )


def _answer_text(response: ChatResponse) -> str:
    if not response.tool_calls:
        return response.content
    return json.dumps({"content": response.content, "tool_calls": [c.openai() for c in response.tool_calls]})


def _retained(text: str | None, retention: str) -> str | None:
    if text is None or retention == "none":
        return None
    if retention == "hash":
        return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    return text


def _scrubbed(exc: WeighbridgeError, target: Target) -> WeighbridgeError:
    """The error with the target's key cut out, should a provider have echoed it back."""
    key = target.api_key
    if key and key in exc.message:
        exc.message = exc.message.replace(key, "[redacted]")
        exc.args = (exc.message,)
        if isinstance(exc, ProviderError):
            exc.provider_message = exc.provider_message.replace(key, "[redacted]")
    return exc


def _cancelled(target: Target) -> WeighbridgeError:
    return ProviderError(target.provider_name, "the caller stopped reading the stream")
