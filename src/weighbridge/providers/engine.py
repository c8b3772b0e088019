"""Local GGUF models through their supervised engine (see :mod:`weighbridge.engines`): chats go
to the model's llama-server over the OpenAI wire, decoded together with everyone else's;
text completions with log-probabilities, scoring, embeddings and tokenizing stay in-process,
where the scoring and embedding instances live.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any, cast

from weighbridge.engines.pool import Engines
from weighbridge.errors import ProviderError
from weighbridge.providers.completions import check_max_tokens
from weighbridge.providers.llamacpp import LlamaCppProvider, context_tokens
from weighbridge.providers.openai import OpenAIProvider
from weighbridge.targets import Target
from weighbridge.types import (
    ChatRequest,
    Completion,
    EmbeddingRequest,
    Embeddings,
    ScoreRequest,
    Scores,
    StreamChunk,
    TextCompletion,
    TextRequest,
)


class EngineProvider:
    #: The same model file as in-process, decoded in batches by its engine.
    capabilities = LlamaCppProvider.capabilities

    def __init__(self, engines: Engines) -> None:
        self._engines = engines
        self._in_process = LlamaCppProvider()

    async def complete(self, target: Target, request: ChatRequest) -> Completion:
        _check(target, request)
        engine = await self._engines.engine_for(target)
        with engine.serving():
            try:
                return await OpenAIProvider(engine.http).complete(engine.wire_target(), request)
            except ProviderError:
                if not engine.alive:
                    raise engine.stopped_error() from None
                raise

    async def stream(self, target: Target, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        _check(target, request)
        engine = await self._engines.engine_for(target)
        with engine.serving():
            chunks = cast(
                AsyncGenerator[StreamChunk, None],
                OpenAIProvider(engine.http).stream(engine.wire_target(), request),
            )
            try:
                async with aclosing(chunks):  # closing the request frees the engine's slot at once
                    async for chunk in chunks:
                        yield chunk
            except ProviderError:
                if not engine.alive:
                    raise engine.stopped_error() from None
                raise

    async def complete_text(self, target: Target, request: TextRequest) -> TextCompletion:
        return await self._in_process.complete_text(target, request)

    async def embed(self, target: Target, request: EmbeddingRequest) -> Embeddings:
        return await self._in_process.embed(target, request)

    async def score(self, target: Target, request: ScoreRequest) -> Scores:
        return await self._in_process.score(target, request)

    async def tokenize(self, target: Target, text: str, add_special: bool) -> list[int]:
        return await self._in_process.tokenize(target, text, add_special)

    async def detokenize(self, target: Target, tokens: list[int]) -> str:
        return await self._in_process.detokenize(target, tokens)

    async def tokenizer_info(self, target: Target) -> dict[str, Any]:
        return await self._in_process.tokenizer_info(target)

    async def aclose(self) -> None:
        await self._engines.aclose()


def _check(target: Target, request: ChatRequest) -> None:
    """Refuse what the in-process path refuses, before an engine starts, so that a request gets
    the same answer whichever way the model runs."""
    assert target.weight_file is not None
    if request.max_tokens is None or not target.weight_file.is_file():
        return  # nothing to check, or no file: the engine's start says what is wrong with it
    check_max_tokens(context_tokens(target.weight_file), request.max_tokens)
