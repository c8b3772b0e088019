"""The client: the front door, sync and async, to calls that are planned, attempted, measured,
priced and logged the same way whichever way in (library, CLI, gateway) they came.

It wires the parts together and owns none of their jobs: :class:`~weighbridge.routing.planner.
Planner` decides where a request goes, :class:`~weighbridge.attempts.Attempts` makes each try,
:class:`~weighbridge.providers.pool.ProviderPool` holds the providers, and a
:class:`~weighbridge.store.recorder.Recorder` logs. It is async at heart; the sync face runs
the same coroutines on a private event-loop thread, which keeps one code path for both.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from pydantic import ValidationError

from weighbridge.attempts import Attempts
from weighbridge.call import Call, ChatCall
from weighbridge.config import Settings, load_settings
from weighbridge.errors import InvalidRequestError, WeighbridgeError
from weighbridge.providers import retry
from weighbridge.providers.base import EmbeddingProvider, ImageProvider, ScoringProvider, TextProvider
from weighbridge.providers.pool import ProviderPool
from weighbridge.routing.advice import Advisor, Tagged
from weighbridge.routing.planner import Planner
from weighbridge.store import Store
from weighbridge.store.pictures import Pictures
from weighbridge.store.recorder import Recorder
from weighbridge.streaming import AsyncStream, Stream
from weighbridge.targets import resolve
from weighbridge.types import (
    ChatRequest,
    ChatResponse,
    Completion,
    EmbeddingRequest,
    EmbeddingResponse,
    ImageRequest,
    ImageResponse,
    Message,
    ScoreRequest,
    ScoreResponse,
    TextRequest,
    TextResponse,
    validation_message,
)

if TYPE_CHECKING:
    from weighbridge.engines.pool import Engines

Messages = str | Sequence[Message | dict[str, Any]]
T = TypeVar("T")


class Client:
    """Calls models by name. ``Client()`` reads the user's config; tests pass ``settings``.

    A ``recorder`` carries the store and whoever listens to its records (the gateway's
    metrics); ``engines`` runs local models on supervised engines instead of in-process;
    ``advisor`` makes what auto routes choose on, from this client (its store, its calls).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        store: Store | None = None,
        recorder: Recorder | None = None,
        engines: Engines | None = None,
        retry_policy: retry.RetryPolicy | None = None,
        source: str = "library",
        advisor: Callable[[Client], Advisor] | None = None,
    ) -> None:
        self.settings = settings or load_settings()
        self.recorder = recorder or Recorder(store or self.settings.open_store())
        self.store = self.recorder.store
        self.source = source
        self.planner = Planner(self.settings)
        if advisor is not None and any(r.strategy == "auto" for r in self.settings.routes.values()):
            self.planner.advisor = advisor(self)
        self.providers = ProviderPool(engines)
        self.attempts = Attempts(
            self.settings, self.providers, self.planner, self.recorder, retry_policy or retry.RetryPolicy()
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
        self,
        request: ChatRequest,
        *,
        source: str | None = None,
        key_name: str | None = None,
        within_usd: float | None = None,
    ) -> ChatResponse:
        """One whole answer to a request already built (the gateway's way in); a route falls
        back to its next target on the failures it names, and leaves out those that could cost
        more than ``within_usd`` (what the caller's budgets hold for it)."""
        tagged = await self.planner.classify(request)
        calls = self.planner.calls(
            request, source or self.source, key_name, tagged=tagged, within_usd=within_usd
        )
        for call in calls:
            try:
                return await self._whole_chat(call)
            except WeighbridgeError as exc:
                if call is calls[-1] or not call.falls_back_on(exc):
                    raise
        raise AssertionError("unreachable: the last call returns or raises")

    async def _whole_chat(self, call: ChatCall) -> ChatResponse:
        def answer(completion: Completion) -> ChatResponse:
            if call.vault is not None:
                completion.content = call.vault.restore(completion.content)
            return call.answer(ChatResponse, completion, settings=self.settings)

        return await self.attempts.whole(
            call, lambda provider: provider.complete(call.target, call.outgoing), answer
        )

    def asend_stream(
        self,
        request: ChatRequest,
        *,
        source: str | None = None,
        key_name: str | None = None,
        tagged: Tagged | None = None,
        within_usd: float | None = None,
    ) -> AsyncStream:
        """The streamed answer to a request already built; ``tagged``: its task as
        ``planner.classify`` found it, awaited first (a stream is planned before it starts)."""
        calls = self.planner.calls(
            request, source or self.source, key_name, tagged=tagged, within_usd=within_usd
        )
        return AsyncStream(self.attempts, calls)

    async def acomplete_text(
        self, request: TextRequest, *, source: str | None = None, key_name: str | None = None
    ) -> TextResponse:
        """A raw-text completion; with ``echo`` and ``logprobs`` it scores the prompt itself."""
        call = self.planner.direct(request, "text", source or self.source, key_name)
        return await self.attempts.whole(
            call,
            lambda provider: cast(TextProvider, provider).complete_text(call.target, request),
            lambda got: call.answer(TextResponse, got, settings=self.settings),
        )

    async def ascore(
        self, request: ScoreRequest, *, source: str | None = None, key_name: str | None = None
    ) -> ScoreResponse:
        """The log-likelihood of each continuation after one prompt, in one call that evaluates
        the prompt once for them all (where one echoed text completion per continuation would
        evaluate it again each time); for models whose provider offers ``score``."""
        call = self.planner.direct(request, "score", source or self.source, key_name)
        return await self.attempts.whole(
            call,
            lambda provider: cast(ScoringProvider, provider).score(call.target, request),
            lambda got: call.answer(ScoreResponse, got, settings=self.settings),
        )

    async def agenerate_images(
        self,
        request: ImageRequest,
        *,
        source: str | None = None,
        key_name: str | None = None,
        for_url: bool = False,
    ) -> ImageResponse:
        """Pictures from a prompt, logged with each picture's sha256; the pictures themselves
        are kept on disk under retention ``full`` (and for an hour when ``for_url``: the gateway
        serves them at a URL)."""
        calls = self.planner.image_calls(request, source or self.source, key_name)
        for call in calls:
            try:
                answer = await self._pictures(call)
                break
            except WeighbridgeError as exc:
                if call is calls[-1] or not call.falls_back_on(exc):
                    raise
        if self.settings.retention == "full" or for_url:
            pictures = Pictures(self.settings.home)
            only_url = self.settings.retention != "full"
            await asyncio.to_thread(lambda: [pictures.keep(i, for_url_only=only_url) for i in answer.images])
        return answer

    async def _pictures(self, call: Call[ImageRequest]) -> ImageResponse:
        return await self.attempts.whole(
            call,
            lambda provider: cast(ImageProvider, provider).generate_images(call.target, call.outgoing),
            lambda got: call.answer(ImageResponse, got, settings=self.settings),
        )

    async def aembed(
        self, request: EmbeddingRequest, *, source: str | None = None, key_name: str | None = None
    ) -> EmbeddingResponse:
        """One vector per input."""
        call = self.planner.direct(request, "embeddings", source or self.source, key_name)
        return await self.attempts.whole(
            call,
            lambda provider: cast(EmbeddingProvider, provider).embed(call.target, request),
            lambda got: call.answer(EmbeddingResponse, got, settings=self.settings),
        )

    async def atokenizer(self, model: str | None, op: str, *args: Any) -> Any:
        """Tokenizer work on ``model``'s own tokenizer: ``tokenize(text, add_special)``,
        ``detokenize(tokens)`` or ``tokenizer_info()``. Not an inference, so not logged."""
        target = resolve(self.settings, model or self.settings.default_model)
        if not target.capabilities.offers("tokenize"):
            raise InvalidRequestError(
                f"{target.model_id} ({target.provider.type} provider) does not offer its tokenizer"
            )
        return await getattr(self.providers.get(target), op)(target, *args)

    # -- sync face --------------------------------------------------------------------

    def chat(self, messages: Messages, *, model: str | None = None, **params: Any) -> ChatResponse:
        return self._blocking().call(lambda: self.achat(messages, model=model, **params))

    def stream(self, messages: Messages, *, model: str | None = None, **params: Any) -> Stream:
        request = self.request(messages, model, params)
        tagged = self._blocking().call(lambda: self.planner.classify(request))
        return Stream(self._blocking(), self.asend_stream(request, tagged=tagged))

    def complete_text(self, request: TextRequest) -> TextResponse:
        return self._blocking().call(lambda: self.acomplete_text(request))

    def generate_images(self, request: ImageRequest) -> ImageResponse:
        return self._blocking().call(lambda: self.agenerate_images(request))

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        return self._blocking().call(lambda: self.aembed(request))

    def close(self) -> None:
        """Close the HTTP connections this client opened on its own loop, and the store."""
        if self._loop_thread is not None:
            self._loop_thread.call(self.providers.aclose)
            self._loop_thread.stop()
            self._loop_thread = None
        self.store.close()

    async def aclose(self) -> None:
        """Close the HTTP connections this client opened on the running loop (a server's, as
        it shuts down); :meth:`close` does so for the sync face's own loop, and the store."""
        await self.providers.aclose()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run_async(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run async work that uses this client from synchronous code, on the client's own
        loop thread, where its connections and in-process models live."""
        return self._blocking().call(work)

    def _blocking(self) -> _LoopThread:
        if self._loop_thread is None:
            self._loop_thread = _LoopThread()
        return self._loop_thread


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
