"""Streamed answers: the async stream that measures and logs, its sync twin, and the
assembler that adds chunks up into one completion."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Iterator
from typing import TYPE_CHECKING, Any

from weighbridge.attempts import Attempt, Attempts
from weighbridge.call import ChatCall
from weighbridge.errors import WeighbridgeError
from weighbridge.providers import retry
from weighbridge.types import ChatResponse, Completion, StreamChunk, ToolCall, Usage

if TYPE_CHECKING:
    from weighbridge.client import _LoopThread


class AsyncStream:
    """Chunks as they come. After the last, ``response`` is the whole answer, logged."""

    def __init__(self, attempts: Attempts, calls: list[ChatCall]) -> None:
        self._attempts = attempts
        self._calls = calls
        self._call = calls[0]
        self._started = False
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

    @property
    def route(self) -> tuple[str, str] | None:
        """The route named and why the current target answers it."""
        return (self._call.route[0], self._call.route[2]) if self._call.route else None

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
        """Each planned call in turn, until one starts answering: after that, no fallback."""
        for call in self._calls:
            self._call = call
            self._started = False
            try:
                async for chunk in self._attempt(call):
                    yield chunk
                return
            except WeighbridgeError as exc:
                if self._started or call is self._calls[-1] or not call.falls_back_on(exc):
                    raise

    async def _attempt(self, call: ChatCall) -> AsyncGenerator[StreamChunk, None]:
        attempts = self._attempts
        assembler = Assembler()
        restorer = call.vault.restorer() if call.vault is not None else None
        ttft: float | None = None

        def meter() -> ChatResponse:
            return call.answer(ChatResponse, assembler.completion(), settings=attempts.settings, ttft_s=ttft)

        attempt: Attempt[ChatResponse] | None = None
        try:
            async with attempts.attempt(call) as attempt:
                attempt.meter = meter
                provider = attempt.provider
                async for chunk in retry.stream(
                    lambda: provider.stream(call.target, call.outgoing), attempts.retry_policy
                ):
                    if restorer is not None:
                        text = restorer.feed(chunk.text)
                        if chunk.finish_reason or chunk.usage:
                            text += restorer.flush()
                        chunk = chunk.model_copy(update={"text": text})
                    if ttft is None and (chunk.text or chunk.tool_calls):
                        ttft = time.perf_counter() - call.started
                    assembler.add(chunk)
                    attempt.started = self._started = assembler.started
                    yield chunk
            self.response = attempt.answer
        finally:
            if attempt is not None and attempt.answer is not None:
                self.cost_usd = attempt.answer.cost_usd


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
