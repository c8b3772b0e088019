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

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx

from weighbridge.capabilities import Capabilities
from weighbridge.errors import ProviderError, WeighbridgeError
from weighbridge.providers import completions, hf_chat, hf_load
from weighbridge.providers.hf_model import Checkpoint
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

T = TypeVar("T")


class _Model:
    """One checkpoint (with its adapter) and the one thread every call to it runs on."""

    def __init__(self, folder: Path, adapter: Path | None) -> None:
        self._folder, self._adapter = folder, adapter
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"transformers:{folder.name}")
        self._checkpoint: Checkpoint | None = None

    async def run(self, work: Callable[[Checkpoint], T]) -> T:
        """``work`` done on the model's thread, the model loaded first if it is not yet."""
        return await asyncio.wrap_future(self._thread.submit(self._do, work))

    def later(self, work: Callable[[], object]) -> None:
        """``work`` queued on the model's thread, not waited for."""
        self._thread.submit(work)

    def _do(self, work: Callable[[Checkpoint], T]) -> T:
        try:
            if self._checkpoint is None:  # a failed load is not kept: the next call tries again
                hf_load.transformers_offline(_threads())
                self._checkpoint = Checkpoint(*hf_load.load_checkpoint(self._folder, self._adapter))
            return work(self._checkpoint)
        except WeighbridgeError:
            raise
        except Exception as exc:  # torch and transformers raise bare exceptions
            raise ProviderError("transformers", f"{type(exc).__name__}: {exc}") from None


_MODELS: dict[tuple[Path, Path | None], _Model] = {}
_MODELS_LOCK = threading.Lock()


def _model_for(target: Target) -> _Model:
    key = (Path(target.upstream).resolve(), target.adapter.resolve() if target.adapter else None)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            model = _MODELS[key] = _Model(*key)
        return model


def _threads() -> int:
    """torch's threads: ``$WEIGHBRIDGE_THREADS``, else every core this process may use."""
    return int(os.environ.get("WEIGHBRIDGE_THREADS", 0)) or len(os.sched_getaffinity(0))


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
        return await _model_for(target).run(lambda checkpoint: hf_chat.complete(checkpoint, request))

    async def stream(self, target: Target, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        model = _model_for(target)
        chunks = await model.run(lambda checkpoint: hf_chat.chat(checkpoint, request))
        try:
            while (chunk := await model.run(lambda _: next(chunks, None))) is not None:
                yield chunk
        finally:  # a caller that leaves early ends the generation on the model's thread
            model.later(chunks.close)

    async def complete_text(self, target: Target, request: TextRequest) -> TextCompletion:
        return await _model_for(target).run(lambda checkpoint: completions.complete_text(checkpoint, request))

    async def score(self, target: Target, request: ScoreRequest) -> Scores:
        return await _model_for(target).run(lambda checkpoint: checkpoint.continuations(request))

    async def embed(self, target: Target, request: EmbeddingRequest) -> Embeddings:
        return await _model_for(target).run(lambda checkpoint: checkpoint.embed(request))

    async def tokenize(self, target: Target, text: str, add_special: bool) -> list[int]:
        return await _model_for(target).run(lambda checkpoint: checkpoint.tokenize(text, add_special))

    async def detokenize(self, target: Target, tokens: list[int]) -> str:
        return await _model_for(target).run(lambda checkpoint: checkpoint.text(tokens))

    async def tokenizer_info(self, target: Target) -> dict[str, Any]:
        return await _model_for(target).run(Checkpoint.tokenizer_info)

    async def aclose(self) -> None:
        return None
