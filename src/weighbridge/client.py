"""The client: a request goes to its target's provider, and comes back measured, priced, logged.

This is the one place that retries (through :mod:`weighbridge.retry`), times, prices and logs,
so every way in (library, CLI, later the gateway) behaves the same. It is async at heart; the
sync face runs the same coroutines on a private event-loop thread,
which keeps one code path for both.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from pydantic import ValidationError

from weighbridge.call import Answer, Asked, Call, ChatCall, scrubbed
from weighbridge.capabilities import Operation
from weighbridge.config import Settings, load_settings
from weighbridge.errors import InvalidRequestError, NoRouteError, WeighbridgeError
from weighbridge.plugins import provider_class
from weighbridge.providers import retry
from weighbridge.providers.base import Provider
from weighbridge.routing.breaker import Breakers
from weighbridge.routing.load import MACHINE, InFlight, Share
from weighbridge.routing.routes import Route
from weighbridge.store import InferenceRecord, Store
from weighbridge.streaming import AsyncStream, Stream
from weighbridge.targets import Target, resolve
from weighbridge.types import (
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    Message,
    TextRequest,
    TextResponse,
    validation_message,
)

if TYPE_CHECKING:
    from weighbridge.engines.pool import Engines
    from weighbridge.privacy import Guard, Vault

Messages = str | Sequence[Message | dict[str, Any]]
T = TypeVar("T")


#: The provider method behind each optional operation a provider type may declare.
_METHODS: dict[Operation, str] = {"text": "complete_text", "embeddings": "embed"}


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
        self._guard: Guard | None = None
        self.breakers = Breakers()
        self.in_flight = InFlight()
        #: Supervised engines for local models (the gateway's choice); None runs them in-process.
        self.engines: Engines | None = None
        #: Called with every record once it is stored (the gateway's metrics listen here).
        self.observers: list[Callable[[InferenceRecord, WeighbridgeError | None], None]] = []

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
        calls = self.calls(request, source, key_name)
        for call in calls:
            try:
                return await self._send(call)
            except WeighbridgeError as exc:
                if call is calls[-1] or not call.falls_back_on(exc):
                    raise
        raise AssertionError("unreachable: the last call returns or raises")

    async def _send(self, call: ChatCall) -> ChatResponse:
        """One attempt at one target, retried by the policy, measured, logged."""
        provider = self._provider(call.target)
        self._claim(call)
        call.start()
        await call.hash_weights(self.store)
        outgoing = call.outgoing(self.guard() if call.vault is not None else None)
        try:
            with self.occupying(call):
                completion = await retry.call(
                    lambda: provider.complete(call.target, outgoing), self.retry_policy
                )
        except WeighbridgeError as exc:
            self._settle_breaker(call, exc)
            self._log_failure(call, scrubbed(exc, call.target), "error")
            raise scrubbed(exc, call.target) from None
        self._settle_breaker(call, None)
        if call.vault is not None:
            completion.content = call.vault.restore(completion.content)
        response = call.response(completion, ttft_s=None, settings=self.settings)
        await self._alog(call, response)
        return response

    def asend_stream(
        self, request: ChatRequest, *, source: str | None = None, key_name: str | None = None
    ) -> AsyncStream:
        """The streamed answer to a request already built."""
        return AsyncStream(self, self.calls(request, source, key_name))

    async def acomplete_text(
        self, request: TextRequest, *, source: str | None = None, key_name: str | None = None
    ) -> TextResponse:
        """A raw-text completion; with ``echo`` and ``logprobs`` it scores the prompt itself."""
        call, completion = await self._direct(request, source, key_name, "text", "text completions")
        response = TextResponse(
            **completion.model_dump(), **call.metered(completion.usage, None, self.settings)
        )
        self._log(call, response, "ok")
        return response

    async def aembed(
        self, request: EmbeddingRequest, *, source: str | None = None, key_name: str | None = None
    ) -> EmbeddingResponse:
        """One vector per input."""
        call, embeddings = await self._direct(request, source, key_name, "embeddings", "embeddings")
        response = EmbeddingResponse(
            **embeddings.model_dump(), **call.metered(embeddings.usage, None, self.settings)
        )
        self._log(call, response, "ok")
        return response

    async def atokenizer(self, model: str | None, op: str, *args: Any) -> Any:
        """Tokenizer work on ``model``'s own tokenizer: ``tokenize(text, add_special)``,
        ``detokenize(tokens)`` or ``tokenizer_info()``. Not an inference, so not logged."""
        target = resolve(self.settings, model or self.settings.default_model)
        if not target.capabilities.offers("tokenize"):
            raise InvalidRequestError(
                f"{target.model_id} ({target.provider.type} provider) does not offer its tokenizer"
            )
        return await getattr(self._provider(target), op)(target, *args)

    async def _direct(
        self,
        request: TextRequest | EmbeddingRequest,
        source: str | None,
        key_name: str | None,
        operation: Operation,
        what: str,
    ) -> tuple[Call[Any], Any]:
        """Send a request that is not a chat to its model's provider, if the provider offers it.

        Routes, privacy rules and fallbacks are defined over chats, so these take a model name.
        """
        if request.model in self.settings.routes:
            raise InvalidRequestError(
                f"'{request.model}' is a route; routes serve chats: name a model for {what}"
            )
        target = resolve(self.settings, request.model)
        if not target.capabilities.offers(operation):
            raise InvalidRequestError(
                f"{target.model_id} ({target.provider.type} provider) does not offer {what}"
            )
        method = getattr(self._provider(target), _METHODS[operation])
        call: Call[Any] = Call(request, target, self.settings, source or self.source, key_name)
        await call.hash_weights(self.store)
        try:
            with self.occupying(call):
                result = await retry.call(lambda: method(target, request), self.retry_policy)
        except WeighbridgeError as exc:
            self._log_failure(call, scrubbed(exc, target), "error")
            raise scrubbed(exc, target) from None
        return call, result

    def calls(self, request: ChatRequest, source: str | None, key_name: str | None) -> list[ChatCall]:
        """The attempts a request makes: one for a model, a planned sequence for a route."""
        route = self.settings.routes.get(request.model)
        if route is None:
            return [self._prepare(request, source, key_name)]
        from weighbridge.routing.plan import plan

        guard = self.guard() if route.privacy != "none" else None
        text = "\n".join(m.text() for m in request.messages)
        sensitive = [span.kind for span in guard.detect(text)] if guard else []
        calls = []
        busy = self.in_flight.snapshot() if route.strategy == "least-outstanding" else None
        for choice in plan(
            request.model, route, self.settings, self.breakers, sensitive=sensitive, in_flight=busy
        ):
            vault = _new_vault() if choice.redact else None
            asked = request.model_copy(update={"model": choice.target.model_id})
            routed = (request.model, route, choice.reason)
            calls.append(
                self._prepare(asked, source, key_name, target=choice.target, route=routed, vault=vault)
            )
        return calls

    def guard(self) -> Guard:
        """The privacy guard for this client's settings, built on first use."""
        if self._guard is None:
            from weighbridge.privacy import Guard

            settings = self.settings
            self._guard = Guard(patterns=settings.privacy_patterns, terms=settings.privacy_terms)
        return self._guard

    def _claim(self, call: ChatCall) -> None:
        """A routed call to a target whose circuit is half-open must win the one probe."""
        from weighbridge.routing.plan import breaker_key

        if call.route is not None and not self.breakers.allow(breaker_key(call.target)):
            raise NoRouteError(f"{call.target.model_id}: circuit open after repeated failures")

    @contextmanager
    def occupying(self, call: Call[Any]) -> Iterator[None]:
        """Count ``call`` in flight for its target (least-outstanding routing) and, for a local
        model, for this machine, charging the call its share of the machine's time."""
        with self.in_flight.held(call.target.model_id):
            if not call.target.runs_locally:
                yield
                return
            share = Share()
            try:
                with self.in_flight.held(MACHINE) as share:
                    yield
            finally:
                call.machine_s = share.seconds

    def _settle_breaker(self, call: ChatCall, error: WeighbridgeError | None) -> None:
        from weighbridge.routing.plan import breaker_key
        from weighbridge.routing.routes import failure_class

        key = breaker_key(call.target)
        if error is None:
            self.breakers.success(key)
        elif failure_class(error) is not None:
            self.breakers.failure(key)

    def max_cost_usd(self, request: Asked) -> float:
        """The most ``request`` can cost, known before it is sent (for budget reservations)."""
        from weighbridge.costs import worst_case_usd

        if isinstance(request, ChatRequest):
            chars = sum(len(m.text()) for m in request.messages)
            # a route may end on any of its targets
            sent = [(c.target, c.request.max_tokens) for c in self.calls(request, None, None)]
        else:
            chars = _prompt_chars(request)
            max_tokens = request.max_tokens if isinstance(request, TextRequest) else 0
            sent = [(resolve(self.settings, request.model), max_tokens)]
        worst = 0.0
        for target, asked_tokens in sent:
            entry = target.entry
            max_tokens = entry.max_output_tokens or entry.context_tokens or 4096
            cost = worst_case_usd(
                entry,
                chars,
                max_tokens if asked_tokens is None else asked_tokens,
                runs_locally=target.runs_locally,
                self_hosting=self.settings.catalog.self_hosting,
            )
            worst = max(worst, cost)
        return worst

    # -- sync face --------------------------------------------------------------------

    def chat(self, messages: Messages, *, model: str | None = None, **params: Any) -> ChatResponse:
        return self._blocking().call(lambda: self.achat(messages, model=model, **params))

    def stream(self, messages: Messages, *, model: str | None = None, **params: Any) -> Stream:
        return Stream(self._blocking(), self.astream(messages, model=model, **params))

    def complete_text(self, request: TextRequest) -> TextResponse:
        return self._blocking().call(lambda: self.acomplete_text(request))

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        return self._blocking().call(lambda: self.aembed(request))

    def close(self) -> None:
        """Close the HTTP connections this client opened on its own loop, and the store."""
        if self._loop_thread is not None:
            state = self._loops.pop(self._loop_thread.loop, None)
            if state is not None:
                self._loop_thread.call(state.aclose)
            self._loop_thread.stop()
            self._loop_thread = None
        self.store.close()

    async def aclose(self) -> None:
        """Close the HTTP connections this client opened on the running loop (a server's, as
        it shuts down); :meth:`close` does so for the sync face's own loop, and the store."""
        state = self._loops.pop(asyncio.get_running_loop(), None)
        if state is not None:
            await state.aclose()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------

    def _blocking(self) -> _LoopThread:
        if self._loop_thread is None:
            self._loop_thread = _LoopThread()
        return self._loop_thread

    def _prepare(
        self,
        request: ChatRequest,
        source: str | None,
        key_name: str | None = None,
        *,
        target: Target | None = None,
        route: tuple[str, Route, str] | None = None,
        vault: Vault | None = None,
    ) -> ChatCall:
        """Resolve the target and fill in what the model's entry supplies by default."""
        target = target or resolve(self.settings, request.model)
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
        return Call(request, target, self.settings, source or self.source, key_name, route=route, vault=vault)

    def _provider(self, target: Target) -> Provider:
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:  # not setdefault: that would build (and leak) an HTTP pool per call
            state = self._loops[loop] = _LoopState()
        provider = state.providers.get(target.provider_name)
        if provider is None:
            if target.capabilities.weights == "file" and self.engines is not None:
                from weighbridge.providers.engine import EngineProvider

                provider = EngineProvider(self.engines)
            else:
                provider = provider_class(target.provider.type)(state.http)
            state.providers[target.provider_name] = provider
        return provider

    def _log(self, call: Call[Any], response: Answer, status: str) -> None:
        self._record(call.record(status, response=response), None)

    async def _alog(self, call: Call[Any], response: Answer) -> None:
        """Log a success from the event loop: its commit is shared with the requests that
        finish at the same time, and the answer is returned only once it is committed."""
        record = call.record("ok", response=response)
        try:
            await self.store.arecord(record)
        except asyncio.CancelledError:
            self._observe(record, None)  # its batch commits it all the same: count it too
            raise
        self._observe(record, None)

    def _log_failure(
        self, call: Call[Any], error: WeighbridgeError, status: str, partial: ChatResponse | None = None
    ) -> None:
        self._record(call.record(status, response=partial, error=error), error)

    def _record(self, record: InferenceRecord, error: WeighbridgeError | None) -> None:
        self.store.record(record)
        self._observe(record, error)

    def _observe(self, record: InferenceRecord, error: WeighbridgeError | None) -> None:
        for observe in self.observers:
            observe(record, error)


class _LoopState:
    """What a client holds on one event loop: the shared HTTP pool and the providers using it."""

    def __init__(self) -> None:
        from weighbridge.providers.transport import upstream_client

        # Per-request timeouts come from each provider's entry; this only bounds connecting.
        # A gateway keeps many upstream requests in flight: a pool as small as httpx's default
        # (20 idle connections) would open a new connection for most of them under load. The
        # transport is aiohttp's pool, whose cost per request does not grow with its size.
        self.http = upstream_client(
            httpx.Limits(max_connections=512, max_keepalive_connections=256),
            httpx.Timeout(600, connect=10),
        )
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


def _prompt_chars(request: TextRequest | EmbeddingRequest) -> int:
    """Characters to price a prompt by; token ids count as the fewest characters a token has."""
    from weighbridge.costs import CHARS_PER_TOKEN_FLOOR

    prompts = [request.prompt] if isinstance(request, TextRequest) else request.input
    return sum(len(p) if isinstance(p, str) else len(p) * CHARS_PER_TOKEN_FLOOR for p in prompts)


def _new_vault() -> Vault:
    from weighbridge.privacy import Vault

    return Vault()
