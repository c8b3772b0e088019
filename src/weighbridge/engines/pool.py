"""The engines of one weighbridge process: at most one per model file, started on first use (or
preloaded), stopped when idle, and all stopped when weighbridge stops."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
from pathlib import Path

from weighbridge.config import Settings
from weighbridge.engines.binary import find_llama_server, llama_server
from weighbridge.engines.engine import READY_TIMEOUT_S, Engine
from weighbridge.engines.options import EngineOptions
from weighbridge.engines.shared import BorrowedEngine, Claim
from weighbridge.errors import ModelLoadError
from weighbridge.store import Store
from weighbridge.targets import Target
from weighbridge.weights import pinned_sha256


def supervised(settings: Settings, store: Store, *, shared: bool = False) -> Engines | None:
    """Engines for local models, or None where no llama-server was built: they then run
    in-process, one request at a time. ``shared``: this process is one of several gateway
    workers on the machine, which share one engine per model."""
    if find_llama_server() is None:
        return None
    return Engines(settings.engine, store, settings.home, shared=shared)


class Engines:
    def __init__(self, options: EngineOptions, store: Store, home: Path, *, shared: bool = False) -> None:
        self.options = options
        self._store = store
        self._home = home
        self._shared = shared
        self._engines: dict[Path, Engine | BorrowedEngine] = {}
        self._watchers: dict[Path, asyncio.Task[None]] = {}
        self._locks: dict[Path, asyncio.Lock] = {}
        atexit.register(self.stop_all)  # a clean exit stops them; a hard kill is the kernel's job

    async def engine_for(self, target: Target) -> Engine | BorrowedEngine:
        """The running engine for ``target``'s file, started (and checked against the pin) if
        none is running; with workers sharing engines, the one another worker runs."""
        path = Path(target.upstream).resolve()
        lock = self._locks.setdefault(path, asyncio.Lock())
        async with lock:
            engine = self._engines.get(path)
            if isinstance(engine, BorrowedEngine):
                if engine.alive:
                    return engine
                await self._forget(path)  # its owner is gone: take it over, or borrow the next
                engine = None
            claim = None
            if engine is None and self._shared:
                claim = Claim(self._home, path)
                borrowed = await BorrowedEngine.attach(target, claim, self.options, READY_TIMEOUT_S)
                if borrowed is not None:
                    self._engines[path] = borrowed
                    return borrowed
            if engine is None:
                # a file that no longer matches weighbridge.lock is refused before the engine
                # starts, exactly as the in-process path refuses it
                try:
                    await asyncio.to_thread(pinned_sha256, self._store, target.model_id, path)
                except BaseException:
                    if claim is not None:
                        claim.release()  # so another worker may try, and say the same
                    raise
                engine = Engine(target, path, self.options, llama_server(), self._home, claim)
                self._engines[path] = engine
        try:
            await engine.ensure_running()
        except ModelLoadError:
            if not self._watching(path):  # a first start that failed: nothing to keep
                async with lock:
                    await self._forget(path)
            raise
        self._watch(path, engine)
        return engine

    def _watching(self, path: Path) -> bool:
        task = self._watchers.get(path)
        return task is not None and not task.done()

    def _watch(self, path: Path, engine: Engine) -> None:
        if self._watching(path):
            return
        idle = asyncio.Event()

        async def watch() -> None:
            await engine.watch(idle)
            if idle.is_set():
                async with self._locks[path]:
                    if engine.in_flight == 0:
                        await self._forget(path)

        self._watchers[path] = asyncio.get_running_loop().create_task(watch())

    async def _forget(self, path: Path) -> None:
        engine = self._engines.pop(path, None)
        if engine is not None:
            await engine.aclose()

    async def aclose(self) -> None:
        for task in self._watchers.values():
            task.cancel()
        for task in self._watchers.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for path in list(self._engines):
            await self._forget(path)
        atexit.unregister(self.stop_all)  # nothing left to stop; nor to keep alive until exit

    def stop_all(self) -> None:
        for engine in self._engines.values():
            engine.stop()
