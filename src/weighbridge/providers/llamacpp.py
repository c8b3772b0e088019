"""GGUF models in-process through llama-cpp-python.

Each model file gets one long-lived worker thread that owns the ``Llama`` object and makes
every llama.cpp call for it. Loading happens once per process and the model is reused;
keeping all calls on one thread lets llama.cpp's OpenMP team stay formed, which is worth
about 30% of decode speed against calls that hop between pool threads. Requests for one
model run one after another on its thread; concurrent serving belongs to an engine.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import queue
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from weighbridge.capabilities import Capabilities
from weighbridge.errors import (
    InvalidRequestError,
    ModelLoadError,
    ProviderError,
    WeighbridgeError,
)
from weighbridge.providers import chat_template, completions, llamacpp_score, llamacpp_text
from weighbridge.providers.gguf_meta import read_metadata
from weighbridge.targets import Target
from weighbridge.types import (
    ChatRequest,
    Completion,
    EmbeddingRequest,
    Embeddings,
    FinishReason,
    ScoreRequest,
    Scores,
    StreamChunk,
    TextCompletion,
    TextRequest,
    Usage,
)

A = TypeVar("A")
_DONE = object()
MAX_DEFAULT_CONTEXT = 8192
#: Scoring keeps every position's logits (n_ctx x vocabulary floats): a smaller context.
MAX_SCORING_CONTEXT = 4096
#: An input to embed is read in one batch (mean pooling needs the whole sequence at once), and
#: a batch's attention scores grow with its square: 2048 tokens is ~150 MB for SmolLM2.
MAX_EMBEDDING_CONTEXT = 2048


#: Work on the model's chat instance that is not an inference (tokenizing, say).
Task = Callable[[Any], object]


@dataclass
class _Job:
    request: ChatRequest | TextRequest | EmbeddingRequest | Task
    stream: bool
    emit: Callable[[object], object]
    cancelled: threading.Event = field(default_factory=threading.Event)


class StopScanner:
    """Holds back text that may be the start of a stop sequence; cuts at a full match."""

    def __init__(self, stops: list[str] | None) -> None:
        self._stops = [s for s in stops or [] if s]
        self._held = ""
        self.hit = False

    def feed(self, text: str) -> str:
        if not self._stops:
            return text
        held = self._held + text
        cuts = [held.find(s) for s in self._stops if s in held]
        if cuts:
            self.hit, self._held = True, ""
            return held[: min(cuts)]
        keep = max((_overlap(held, s) for s in self._stops), default=0)
        self._held = held[len(held) - keep :] if keep else ""
        return held[: len(held) - keep]

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held


def _overlap(text: str, stop: str) -> int:
    """Length of the longest end of ``text`` that begins ``stop``."""
    for n in range(min(len(text), len(stop) - 1), 0, -1):
        if stop.startswith(text[-n:]):
            return n
    return 0


class _Worker:
    def __init__(self, path: Path, n_threads: int) -> None:
        self.path = path
        self._n_threads = n_threads
        #: One ``Llama`` per use: "chat", "scoring" (all logits kept), "embedding".
        self._llamas: dict[str, Any] = {}
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        threading.Thread(target=self._run, name=f"llamacpp:{path.name}", daemon=True).start()

    def submit(self, job: _Job) -> None:
        self._jobs.put(job)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job.cancelled.is_set():
                job.emit(_DONE)
                continue
            try:
                request = job.request
                if isinstance(request, ChatRequest):
                    self._generate(self._load("chat"), job)
                elif isinstance(request, TextRequest):
                    use = "chat" if request.logprobs is None else "scoring"
                    job.emit(llamacpp_text.complete_text(self._load(use), request))
                elif isinstance(request, EmbeddingRequest):
                    job.emit(llamacpp_text.embed(self._load("embedding"), request))
                else:
                    job.emit(request(self._load("chat")))
            except WeighbridgeError as exc:
                job.emit(exc)
            except Exception as exc:  # llama.cpp raises bare exceptions; keep the worker alive
                job.emit(ProviderError("llamacpp", f"{type(exc).__name__}: {exc}"))
            job.emit(_DONE)

    def _load(self, use: str) -> Any:
        if use in self._llamas:
            return self._llamas[use]
        from llama_cpp import LLAMA_POOLING_TYPE_MEAN, Llama

        n_ctx = context_tokens(self.path)
        extra: dict[str, Any] = {
            "chat": {},
            "scoring": {"logits_all": True, "n_ctx": min(n_ctx, MAX_SCORING_CONTEXT)},
            "embedding": {
                "embedding": True,
                "pooling_type": LLAMA_POOLING_TYPE_MEAN,
                "n_ctx": min(n_ctx, MAX_EMBEDDING_CONTEXT),
                "n_batch": min(n_ctx, MAX_EMBEDDING_CONTEXT),
                "n_ubatch": min(n_ctx, MAX_EMBEDDING_CONTEXT),
            },
        }[use]
        try:
            llama = Llama(
                model_path=str(self.path),
                **{"n_ctx": n_ctx, **extra},
                n_threads=self._n_threads,
                n_threads_batch=self._n_threads,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelLoadError(
                f"cannot load {self.path}: llama.cpp rejected it ({exc}); "
                "the file may be truncated or corrupt"
            ) from None
        self._llamas[use] = llama
        return llama

    def _generate(self, llama: Any, job: _Job) -> None:
        request = job.request
        assert isinstance(request, ChatRequest)
        prompt_tokens = _prompt_tokens(llama, request)
        completions.check_max_tokens(llama.n_ctx(), request.max_tokens)
        room = llama.n_ctx() - len(prompt_tokens)
        if room < 1:
            raise InvalidRequestError(
                f"the prompt is {len(prompt_tokens)} tokens; this model's context is {llama.n_ctx()}"
            )
        max_tokens = min(request.max_tokens or room, room)
        pieces = llama.create_completion(
            prompt_tokens,
            max_tokens=max_tokens,
            stream=True,
            **_sampling(request),
        )
        scanner = StopScanner(request.stop)
        parts: list[str] = []
        finish: FinishReason | None = None
        ended_on_eos = False
        for piece in pieces:
            choice = piece["choices"][0]
            text = scanner.feed(choice["text"])
            if text:
                parts.append(text)
                if job.stream:
                    job.emit(StreamChunk(text=text))
            if scanner.hit or job.cancelled.is_set():
                finish = "stop" if scanner.hit else None
                break
            if choice["finish_reason"]:
                finish = "length" if choice["finish_reason"] == "length" else "stop"
                ended_on_eos = finish == "stop"
        pieces.close()
        if not scanner.hit and (tail := scanner.flush()):
            parts.append(tail)
            if job.stream:
                job.emit(StreamChunk(text=tail))
        # llama.cpp evaluates each sampled token on the next step; an end-of-generation token
        # is sampled but never counted, any other last token is sampled but not yet evaluated.
        generated = llama.n_tokens - len(prompt_tokens) + (0 if ended_on_eos else 1)
        usage = Usage(prompt_tokens=len(prompt_tokens), completion_tokens=max(generated, 0))
        if job.stream:
            job.emit(StreamChunk(finish_reason=finish, usage=usage))
        else:
            job.emit(Completion(content="".join(parts), finish_reason=finish, usage=usage))


def _prompt_tokens(llama: Any, request: ChatRequest) -> list[int]:
    meta = llama.metadata
    source = meta.get("tokenizer.chat_template") or chat_template.CHATML
    if request.tools and not chat_template.supports_tools(source):
        raise InvalidRequestError("this model's chat template does not support tools")
    bos = _token_text(llama, llama.token_bos())
    eos = _token_text(llama, llama.token_eos())
    messages = [{"role": m.role, "content": m.text()} for m in request.messages]
    prompt = chat_template.render(source, messages, bos_token=bos, eos_token=eos, tools=request.tools)
    add_bos = meta.get("tokenizer.ggml.add_bos_token", "true") == "true" and not (
        bos and prompt.startswith(bos)
    )
    tokens: list[int] = llama.tokenize(prompt.encode("utf-8"), add_bos=add_bos, special=True)
    return tokens


def _token_text(llama: Any, token: int) -> str:
    if token < 0:
        return ""
    return bytes(llama.detokenize([token], special=True)).decode("utf-8", "replace")


def _sampling(request: ChatRequest) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if request.temperature is not None:
        args["temperature"] = request.temperature
    if request.top_p is not None:
        args["top_p"] = request.top_p
    if request.seed is not None:
        args["seed"] = request.seed
    fmt = request.response_format
    if fmt is not None and fmt.type != "text":
        from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

        schema = fmt.schema_()
        args["grammar"] = (
            LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
            if schema is not None
            else LlamaGrammar.from_string(JSON_GBNF, verbose=False)
        )
    return args


def _deliver(loop: asyncio.AbstractEventLoop, inbox: asyncio.Queue[object], item: object, job: _Job) -> None:
    """Hand an item to the caller's loop; a loop that has closed means nobody is listening
    (the caller returned or gave up), so the job stops instead of the worker thread dying."""
    try:
        loop.call_soon_threadsafe(inbox.put_nowait, item)
    except RuntimeError:
        job.cancelled.set()


_WORKERS: dict[Path, _Worker] = {}
_WORKERS_LOCK = threading.Lock()


def _worker_for(target: Target) -> _Worker:
    path = Path(target.upstream).resolve()
    with _WORKERS_LOCK:
        worker = _WORKERS.get(path)
        if worker is None:
            threads = int(os.environ.get("WEIGHBRIDGE_THREADS", 0)) or len(os.sched_getaffinity(0))
            worker = _WORKERS[path] = _Worker(path, threads)
        return worker


def context_tokens(path: Path) -> int:
    """The context a chat has on this model here: the model's own, up to MAX_DEFAULT_CONTEXT.
    Read once per version of the file (reading the metadata takes tens of milliseconds)."""
    info = path.stat()
    return _context_tokens(path, info.st_size, info.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _context_tokens(path: Path, size: int, mtime_ns: int) -> int:
    meta = read_metadata(path)
    arch = meta.get("general.architecture", "llama")
    return min(int(meta.get(f"{arch}.context_length") or MAX_DEFAULT_CONTEXT), MAX_DEFAULT_CONTEXT)


class LlamaCppProvider:
    #: One model instance answers one call at a time; the engine batches concurrent ones.
    capabilities = Capabilities(
        weights="file",
        operations=frozenset({"chat", "text", "logprobs", "score", "embeddings", "tokenize"}),
        concurrency=1,
    )

    def __init__(self, http: httpx.AsyncClient | None = None) -> None:
        del http  # runs in-process; nothing to send

    async def complete(self, target: Target, request: ChatRequest) -> Completion:
        return await self._one(target, request, Completion)

    async def stream(self, target: Target, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        async for item in self._run(target, request, stream=True):
            if isinstance(item, StreamChunk):
                yield item

    async def complete_text(self, target: Target, request: TextRequest) -> TextCompletion:
        return await self._one(target, request, TextCompletion)

    async def embed(self, target: Target, request: EmbeddingRequest) -> Embeddings:
        return await self._one(target, request, Embeddings)

    async def score(self, target: Target, request: ScoreRequest) -> Scores:
        return await self._one(target, lambda llama: llamacpp_score.score(llama, request), Scores)

    async def tokenize(self, target: Target, text: str, add_special: bool) -> list[int]:
        return await self._one(
            target, lambda llama: llamacpp_text.tokenize(llama, text, add_special=add_special), list
        )

    async def detokenize(self, target: Target, tokens: list[int]) -> str:
        return await self._one(target, lambda llama: llamacpp_text.detokenize(llama, tokens), str)

    async def tokenizer_info(self, target: Target) -> dict[str, Any]:
        return await self._one(target, llamacpp_text.tokenizer_info, dict)

    async def _one(
        self, target: Target, request: ChatRequest | TextRequest | EmbeddingRequest | Task, kind: type[A]
    ) -> A:
        async for item in self._run(target, request, stream=False):
            if isinstance(item, kind):
                return item
        raise ProviderError("llamacpp", "the model produced no answer")

    async def _run(
        self, target: Target, request: ChatRequest | TextRequest | EmbeddingRequest | Task, *, stream: bool
    ) -> AsyncIterator[object]:
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue[object] = asyncio.Queue()
        job = _Job(request, stream, lambda item: _deliver(loop, inbox, item, job))
        _worker_for(target).submit(job)
        try:
            while (item := await inbox.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            job.cancelled.set()

    async def aclose(self) -> None:
        return None
