"""weighbridge: open-weight and closed models behind one interface, every call logged.

    >>> import weighbridge
    >>> weighbridge.chat("What is the capital of France?", model="smollm2-135m").content
    'The capital of France is Paris.'

Names are imported on first use, so ``import weighbridge`` (and ``weighbridge --help``) stay
fast: pydantic, httpx and llama.cpp load only when a call needs them.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import os
    from collections.abc import Sequence

    from weighbridge.client import Client, Messages
    from weighbridge.errors import (
        ConfigError,
        InvalidRequestError,
        MissingKeyError,
        ModelLoadError,
        NoRouteError,
        ProviderConnectionError,
        ProviderError,
        ProviderTimeoutError,
        StoreUnavailableError,
        StreamInterruptedError,
        UnknownModelError,
        WeighbridgeError,
    )
    from weighbridge.eval.stored import EvalRun
    from weighbridge.routing.advice import Advisor
    from weighbridge.streaming import AsyncStream, Stream
    from weighbridge.types import (
        ChatRequest,
        ChatResponse,
        ImageRequest,
        ImageResponse,
        Message,
        StreamChunk,
        Usage,
    )

__all__ = [
    "AsyncStream",
    "ChatRequest",
    "ChatResponse",
    "Client",
    "ConfigError",
    "ImageRequest",
    "ImageResponse",
    "InvalidRequestError",
    "Message",
    "MissingKeyError",
    "ModelLoadError",
    "NoRouteError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeoutError",
    "StoreUnavailableError",
    "Stream",
    "StreamChunk",
    "StreamInterruptedError",
    "UnknownModelError",
    "Usage",
    "WeighbridgeError",
    "achat",
    "astream",
    "chat",
    "evaluate",
    "image",
    "stream",
]

_HOMES = {
    "AsyncStream": "weighbridge.streaming",
    "Client": "weighbridge.client",
    "Stream": "weighbridge.streaming",
    "ChatRequest": "weighbridge.types",
    "ChatResponse": "weighbridge.types",
    "Message": "weighbridge.types",
    "StreamChunk": "weighbridge.types",
    "ImageRequest": "weighbridge.types",
    "ImageResponse": "weighbridge.types",
    "Usage": "weighbridge.types",
}
_default: Client | None = None
_default_lock = threading.Lock()


def __getattr__(name: str) -> Any:
    import importlib

    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    if name in __all__:
        return getattr(importlib.import_module("weighbridge.errors"), name)
    raise AttributeError(f"module 'weighbridge' has no attribute {name!r}")


def default_client() -> Client:
    """The process-wide client behind :func:`chat` and friends, made on first use."""
    global _default
    with _default_lock:
        if _default is None:
            from weighbridge.client import Client

            _default = Client(advisor=evidence_advisor)
        return _default


def evidence_advisor(client: Client) -> Advisor:
    """What auto routes choose on: the evidence in ``client``'s store. Its modules load only
    when a route needs them (the client calls this only then)."""
    from weighbridge.evidence.advisor import EvidenceAdvisor

    return EvidenceAdvisor(client)


def chat(messages: Messages, *, model: str | None = None, **params: Any) -> ChatResponse:
    """Ask ``model`` (the configured default when None) and wait for the whole answer; the
    same signature as :meth:`Client.chat`, on a process-wide client."""
    return default_client().chat(messages, model=model, **params)


async def achat(messages: Messages, *, model: str | None = None, **params: Any) -> ChatResponse:
    """The async twin of :func:`chat`."""
    return await default_client().achat(messages, model=model, **params)


def image(prompt: str, *, model: str, **params: Any) -> ImageResponse:
    """Pictures from ``prompt`` by an image model (``n``, ``size``, ``quality``, ``seed``,
    ``steps``, ``negative_prompt``, ``guidance``, ``output_format``); each in
    ``response.images[i].data``, as encoded bytes."""
    from pydantic import ValidationError

    from weighbridge.errors import InvalidRequestError
    from weighbridge.types import ImageRequest, validation_message

    try:
        request = ImageRequest(model=model, prompt=prompt, **params)
    except ValidationError as exc:
        raise InvalidRequestError(validation_message(exc)) from None
    return default_client().generate_images(request)


def stream(messages: Messages, *, model: str | None = None, **params: Any) -> Stream:
    """Iterate the answer's chunks as they come; ``.response`` holds the whole afterwards."""
    return default_client().stream(messages, model=model, **params)


def astream(messages: Messages, *, model: str | None = None, **params: Any) -> AsyncStream:
    """The async twin of :func:`stream`: ``async for chunk in weighbridge.astream(...)``."""
    return default_client().astream(messages, model=model, **params)


def evaluate(
    models: str | Sequence[str],
    tasks: str | Sequence[str],
    *,
    limit: int | None = None,
    shots: int | None = None,
    seed: int = 1234,
    data_dir: str | os.PathLike[str] | None = None,
    concurrency: int = 8,
    confirm_unsafe_code: bool = False,
) -> EvalRun:
    """Score models on standard benchmarks (``mmlu``, ``arc_easy``, ``arc_challenge``,
    ``hellaswag``, ``gsm8k``, ``humaneval``) as lm-evaluation-harness does, from datasets on
    local disk; what ``weighbridge eval`` runs, stored as a run the same way (a second call
    asks only what the first did not finish). Each of the run's ``results`` has its method and
    ``scores(metric)`` per group. ``shots=None`` takes each task's own default;
    ``confirm_unsafe_code`` allows HumanEval, which runs the code a model writes in a sandbox."""
    from pathlib import Path

    from weighbridge.eval import stored
    from weighbridge.eval.run import evaluate as run
    from weighbridge.eval.task import Setup

    client = default_client()
    chosen = [models] if isinstance(models, str) else list(models)
    names = [tasks] if isinstance(tasks, str) else list(tasks)
    setup = Setup(limit, shots, seed, Path(data_dir) if data_dir is not None else None)
    run_id = client.run_async(
        lambda: run(
            client, chosen, names, setup, concurrency=concurrency, confirm_unsafe_code=confirm_unsafe_code
        )
    )
    return stored.load(client.store, run_id)
