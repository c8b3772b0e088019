"""Local weights resident in this process: each model (weights and adapter) loaded once, on a
thread of its own that then makes every call to it. The event loop never waits on torch, calls
to one model run one after another (concurrent serving belongs to an engine), and torch's
thread team stays on one calling thread rather than being re-formed as calls hop between pool
threads. The in-process providers (transformers, diffusers) keep their models here.
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Generic, TypeVar

from weighbridge.errors import ProviderError, WeighbridgeError
from weighbridge.targets import Target

M = TypeVar("M")
T = TypeVar("T")
Key = tuple[Path, Path | None]


def torch_threads() -> int:
    """torch's threads: ``$WEIGHBRIDGE_THREADS``, else every core this process may use."""
    return int(os.environ.get("WEIGHBRIDGE_THREADS", 0)) or len(os.sched_getaffinity(0))


#: Models load one at a time in a process, whichever backend loads them: diffusers' lazy
#: imports and the empty-weights context transformers and diffusers load under are global to
#: the process, so two loads at once see each other's half-made modules (a pipeline failing
#: with "Unsupported device type 'meta'", or ``diffusers`` without ``DiffusionPipeline``).
LOADING = threading.Lock()


class Resident(Generic[M]):
    """One model, loaded on first use, and the one thread every call to it runs on."""

    def __init__(self, backend: str, key: Key, load: Callable[[Path, Path | None], M]) -> None:
        self._backend, self._key, self._load = backend, key, load
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{backend}:{key[0].name}")
        self._model: M | None = None

    async def run(self, work: Callable[[M], T]) -> T:
        """``work`` done on the model's thread, the model loaded first if it is not yet."""
        return await asyncio.wrap_future(self._thread.submit(self._do, work))

    def later(self, work: Callable[[], object]) -> None:
        """``work`` queued on the model's thread, not waited for."""
        self._thread.submit(work)

    async def aclose(self) -> None:
        """The model dropped once the calls queued before have run, then the thread ended."""
        await asyncio.wrap_future(self._thread.submit(self._drop))
        self._thread.shutdown()  # its queue is empty: this only joins the idle thread

    def _drop(self) -> None:
        self._model = None
        gc.collect()  # a pipeline's modules hold reference cycles: free their tensors now

    def _do(self, work: Callable[[M], T]) -> T:
        try:
            if self._model is None:  # a failed load is not kept: the next call tries again
                with LOADING:
                    self._model = self._load(*self._key)
            return work(self._model)
        except WeighbridgeError:
            raise
        except Exception as exc:  # torch, transformers and diffusers raise bare exceptions
            raise ProviderError(self._backend, f"{type(exc).__name__}: {exc}") from None


class Residents(Generic[M]):
    """The models one backend has loaded in this process, by weights and adapter. A model
    fetched without a ``holder`` stays for the process; one fetched with holders (each a
    provider instance's set of keys) is freed when the last of them :meth:`release` it."""

    def __init__(self, backend: str, load: Callable[[Path, Path | None], M]) -> None:
        self._backend, self._load = backend, load
        self._models: dict[Key, Resident[M]] = {}
        self._holds: dict[Key, int] = {}
        self._lock = threading.Lock()

    def get(self, target: Target, holder: set[Key] | None = None) -> Resident[M]:
        """``target``'s model; with a ``holder``, held by it until it releases."""
        key = (Path(target.upstream).resolve(), target.adapter.resolve() if target.adapter else None)
        with self._lock:
            model = self._models.get(key)
            if model is None:
                model = self._models[key] = Resident(self._backend, key, self._load)
            if holder is not None and key not in holder:
                holder.add(key)
                self._holds[key] = self._holds.get(key, 0) + 1
            return model

    async def release(self, holder: set[Key]) -> None:
        """Let go of ``holder``'s models; each that nobody holds any more is freed, its thread ended."""
        freed = []
        with self._lock:
            for key in holder:
                self._holds[key] -= 1
                if not self._holds[key]:
                    del self._holds[key]
                    freed.append(self._models.pop(key))
            holder.clear()
        for model in freed:
            await model.aclose()
