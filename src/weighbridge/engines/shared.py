"""One engine per model file per machine, however many gateway workers serve (``serve
--workers N``).

The first worker to need a model takes an exclusive lock on a file named for the model file and
runs the engine as it would alone; once the engine answers it publishes where it listens (its
unix socket and token, in a file only this user can read). Every other worker finds the lock
taken and borrows that engine: same socket, same token, no process of its own. A lock dies with
its process, so when the owning worker is killed (its engine dies with it, by the kernel's
parent-death signal) the next worker to need the model takes the lock and starts it again.
Borrowers touch the published file as they use the engine, so the owner's idle timeout counts
their requests too.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx

from weighbridge.engines.options import EngineOptions
from weighbridge.errors import ModelLoadError
from weighbridge.providers.transport import upstream_client
from weighbridge.targets import Target


class Claim:
    """This process's standing on one model file's engine: its owner, or a borrower."""

    def __init__(self, home: Path, path: Path) -> None:
        name = hashlib.sha256(str(path).encode()).hexdigest()[:20]
        folder = home / "engines"
        folder.mkdir(parents=True, exist_ok=True)
        self.lock_path = folder / f"{name}.lock"
        self.endpoint_path = folder / f"{name}.endpoint"  # not *.json: those are `ps`'s
        self._fd: int | None = None

    def try_own(self) -> bool:
        """Take the lock if no other process holds it."""
        if self._fd is not None:
            return True
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        self.endpoint_path.unlink(missing_ok=True)  # what a dead owner published is stale
        return True

    def publish(self, socket: Path, token: str) -> None:
        tmp = self.endpoint_path.with_name(self.endpoint_path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({"socket": str(socket), "token": token}, out)
        tmp.replace(self.endpoint_path)

    def release(self) -> None:
        if self._fd is not None:
            self.endpoint_path.unlink(missing_ok=True)
            os.close(self._fd)  # the lock goes with the descriptor
            self._fd = None

    def endpoint(self) -> tuple[Path, str] | None:
        try:
            published = json.loads(self.endpoint_path.read_text())
        except (OSError, ValueError):
            return None
        return Path(published["socket"]), str(published["token"])

    def owner_alive(self) -> bool:
        """Whether another process still holds the lock (asked by borrowers)."""
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # a shared lock taken only to look is dropped at once
        return False

    def touch(self) -> None:
        with contextlib.suppress(OSError):
            os.utime(self.endpoint_path)

    def last_used(self) -> float:
        """When a borrower last used the engine (wall clock), 0 when none has."""
        try:
            return self.endpoint_path.stat().st_mtime
        except OSError:
            return 0.0


def engine_client(socket: Path, options: EngineOptions) -> httpx.AsyncClient:
    """The HTTP client that reaches an engine on its unix socket, sized to its slots."""
    return upstream_client(
        httpx.Limits(max_connections=4 * options.slots, max_keepalive_connections=options.slots),
        httpx.Timeout(600, connect=10),
        uds=str(socket),
        base_url="http://engine",
    )


def engine_target(target: Target, token: str) -> Target:
    """``target`` as an OpenAI-compatible upstream: the engine on its socket, with its token."""
    provider = target.provider.model_copy(
        update={"type": "openai", "base_url": "http://engine/v1", "timeout_s": 600.0}
    )
    return replace(target, provider=provider, upstream=target.model_id, api_key=token)


class BorrowedEngine:
    """Another worker's engine, used as the provider uses an engine of its own."""

    def __init__(
        self, target: Target, socket: Path, token: str, claim: Claim, options: EngineOptions
    ) -> None:
        self.model_id = target.model_id
        self._target = engine_target(target, token)
        self._claim = claim
        self.http = engine_client(socket, options)

    @classmethod
    async def attach(
        cls, target: Target, claim: Claim, options: EngineOptions, timeout_s: float
    ) -> BorrowedEngine | None:
        """Wait for the owner to publish its engine; None once this process became the owner
        (the one before it died or gave up), and should start the engine itself."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if claim.try_own():
                return None
            published = claim.endpoint()
            if published is not None and published[0].exists():
                return cls(target, *published, claim, options)
            await asyncio.sleep(0.1)
        raise ModelLoadError(
            f"another worker's engine for {target.model_id} did not start in {timeout_s:g} s"
        )

    @property
    def alive(self) -> bool:
        return self._claim.owner_alive()

    def wire_target(self) -> Target:
        return self._target

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        self._claim.touch()
        try:
            yield
        finally:
            self._claim.touch()

    def stopped_error(self) -> ModelLoadError:
        return ModelLoadError(
            f"the local engine for {self.model_id} (run by another worker) stopped while answering; "
            "send the request again"
        )

    def stop(self) -> None:
        """Nothing to stop: the owner runs the process."""

    async def aclose(self) -> None:
        await self.http.aclose()
