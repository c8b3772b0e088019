"""Hugging Face checkpoint folders in-process through transformers, with an optional peft LoRA
adapter on top: chat (streamed or whole), raw-text completions with log-probabilities,
continuations scored after one prompt, embeddings and the tokenizer.

A model's upstream is its checkpoint folder (``file`` in a serve entry) and its adapter the
entry's ``adapter``; both are pinned like a GGUF file (:mod:`weighbridge.weights`). Each pair
is loaded once per process, on a thread of its own that then makes every call to it, so the
event loop never waits on torch and calls to one model run one after another (concurrent
serving belongs to an engine). A stream hands its chunks over one at a time from that thread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from weighbridge.capabilities import Capabilities
from weighbridge.providers import completions, hf_chat, hf_load
from weighbridge.providers.hf_model import Checkpoint
from weighbridge.providers.resident import Residents, torch_threads
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


def _load(folder: Path, adapter: Path | None) -> Checkpoint:
    hf_load.transformers_offline(torch_threads())
    return Checkpoint(*hf_load.load_checkpoint(folder, adapter))


#: Each checkpoint stays loaded for the process once a call has asked for it.
_MODELS = Residents("transformers", _load)


class TransformersProvider:
    #: One model answers one call at a time; LoRA adapters load on top of a checkpoint.
    capabilities = Capabilities(
        weights="file",
        operations=frozenset({"chat", "text", "logprobs", "score", "embeddings", "tokenize"}),
        concurrency=1,
        adapters=True,
    )

    def __init__(self, http: httpx.AsyncClient | None = None) -> None:
        del http  # runs in-process; nothing to send

    async def complete(self, target: Target, request: ChatRequest) -> Completion:
        return await _MODELS.get(target).run(lambda checkpoint: hf_chat.complete(checkpoint, request))

    async def stream(self, target: Target, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        model = _MODELS.get(target)
        chunks = await model.run(lambda checkpoint: hf_chat.chat(checkpoint, request))
        try:
            while (chunk := await model.run(lambda _: next(chunks, None))) is not None:
                yield chunk
        finally:  # a caller that leaves early ends the generation on the model's thread
            model.later(chunks.close)

    async def complete_text(self, target: Target, request: TextRequest) -> TextCompletion:
        return await _MODELS.get(target).run(
            lambda checkpoint: completions.complete_text(checkpoint, request)
        )

    async def score(self, target: Target, request: ScoreRequest) -> Scores:
        return await _MODELS.get(target).run(lambda checkpoint: checkpoint.continuations(request))

    async def embed(self, target: Target, request: EmbeddingRequest) -> Embeddings:
        return await _MODELS.get(target).run(lambda checkpoint: checkpoint.embed(request))

    async def tokenize(self, target: Target, text: str, add_special: bool) -> list[int]:
        return await _MODELS.get(target).run(lambda checkpoint: checkpoint.tokenize(text, add_special))

    async def detokenize(self, target: Target, tokens: list[int]) -> str:
        return await _MODELS.get(target).run(lambda checkpoint: checkpoint.text(tokens))

    async def tokenizer_info(self, target: Target) -> dict[str, Any]:
        return await _MODELS.get(target).run(Checkpoint.tokenizer_info)

    async def aclose(self) -> None:
        return None
