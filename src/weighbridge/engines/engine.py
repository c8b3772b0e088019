"""One supervised ``llama-server`` process serving one model file.

The process listens on a unix socket in a private directory (mode 0700) and accepts only the
token it was started with, so nothing but this weighbridge process can use it. It is started
with ``PR_SET_PDEATHSIG``: the kernel kills it if weighbridge dies, ``kill -9`` included, so an
engine never outlives its parent. A watchdog restarts it after a crash and stops it after an
idle timeout; a request that was in flight when it died fails at once with a clean error.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from weighbridge.engines.options import EngineOptions
from weighbridge.engines.shared import Claim, engine_client, engine_target
from weighbridge.errors import ModelLoadError
from weighbridge.targets import Target

#: Loading a large model from a cold disk can take minutes; a tiny one takes a second.
READY_TIMEOUT_S = 600
#: After this many crashes within CRASH_WINDOW_S the watchdog stops restarting on its own;
#: the next request tries again (and reports the failure if it persists).
MAX_CRASHES, CRASH_WINDOW_S = 3, 60.0


class Engine:
    """A llama-server child for one model file."""

    def __init__(
        self,
        target: Target,
        path: Path,
        options: EngineOptions,
        binary: Path,
        home: Path,
        claim: Claim | None = None,
    ) -> None:
        """``claim``: this worker owns the engine for the machine's other workers too
        (:mod:`weighbridge.engines.shared`), and publishes it to them once it answers."""
        self.model_id = target.model_id
        self._claim = claim
        self.target = target
        self.path = path
        self.options = options
        self._binary = binary
        self._state_dir = home / "engines"
        self._token = secrets.token_urlsafe(32)
        self._socket_dir = Path(tempfile.mkdtemp(prefix="wb-engine-"))
        self.socket = self._socket_dir / "engine.sock"
        self.http = engine_client(self.socket, options)
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.served = 0
        self.in_flight = 0
        self.restarts = 0
        self.last_used = time.monotonic()
        self._crashes: list[float] = []
        self._start_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._written: dict[str, object] | None = None
        self._log_path = self._state_dir / f"{os.getpid()}-{_safe(self.model_id)}.log"

    # -- what the provider needs -------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wire_target(self) -> Target:
        """The target as an OpenAI-compatible upstream: this engine, with its token."""
        return engine_target(self.target, self._token)

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        """Count one request in flight (the idle timeout waits for none)."""
        self.in_flight += 1
        self.last_used = time.monotonic()
        try:
            yield
        finally:
            self.in_flight -= 1
            self.served += 1
            self.last_used = time.monotonic()

    def stopped_error(self) -> ModelLoadError:
        code = self.process.returncode if self.process is not None else None
        return ModelLoadError(
            f"the local engine for {self.model_id} stopped while answering (exit code {code}); "
            "it is being restarted: send the request again"
        )

    # -- life cycle ---------------------------------------------------------------------

    async def ensure_running(self) -> None:
        """Return once the engine answers; start it if it is down, or wait for the start under
        way (a request never reaches an engine still loading its model)."""
        task = self._start_task
        if task is None or (task.done() and (task.cancelled() or task.exception() or not self.alive)):
            if self.process is not None:
                self.restarts += 1
            task = self._start_task = asyncio.get_running_loop().create_task(self._start())
        await asyncio.shield(task)

    async def _start(self) -> None:
        """Start the process and wait until it answers ``/health``."""
        self._state_dir.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LLAMA_")}
        env["LLAMA_API_KEY"] = self._token  # not on the command line, where other users can read it
        args = [
            str(self._binary), "--model", str(self.path), "--host", str(self.socket),
            "--alias", self.model_id, "--no-webui", "--metrics", "--jinja", "--offline",
            *self.options.server_args(),
        ]  # fmt: skip
        with open(self._log_path, "ab") as log:
            log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(args)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                preexec_fn=_die_with_parent(os.getpid()),
            )
        self.started_at = time.time()
        self._stopping = False
        await self._wait_ready()
        self.write_state()
        if self._claim is not None:
            self._claim.publish(self.socket, self._token)

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if not self.alive:
                raise ModelLoadError(
                    f"the engine for {self.model_id} exited while loading {self.path}: {self.log_tail()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if (await self.http.get("/health", timeout=2)).status_code == 200:
                    return
            await asyncio.sleep(0.05)
        self.stop()
        raise ModelLoadError(f"the engine for {self.model_id} did not become ready in {READY_TIMEOUT_S} s")

    async def watch(self, on_idle: asyncio.Event) -> None:
        """Restart after a crash; set ``on_idle`` once the idle timeout has passed."""
        while not self._stopping:
            await asyncio.sleep(0.5)
            if self._stopping:
                return
            if not self.alive:
                now = time.monotonic()
                self._crashes = [t for t in self._crashes if now - t < CRASH_WINDOW_S] + [now]
                if len(self._crashes) > MAX_CRASHES:
                    return  # crashing in a loop: leave it down; the next request retries and reports
                with contextlib.suppress(ModelLoadError):
                    await self.ensure_running()
                continue
            idle = self.options.idle_timeout_s
            if idle and self.in_flight == 0 and self._idle_for() > idle:
                on_idle.set()
                return
            self.write_state()

    def _idle_for(self) -> float:
        """Seconds since this worker, or a worker borrowing the engine, last used it."""
        mine = time.monotonic() - self.last_used
        return mine if self._claim is None else min(mine, time.time() - self._claim.last_used())

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL) and forget its state file."""
        self._stopping = True
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.state_path().unlink(missing_ok=True)
        self._written = None
        if self._claim is not None:
            self._claim.release()

    async def aclose(self) -> None:
        self.stop()
        await self.http.aclose()
        shutil.rmtree(self._socket_dir, ignore_errors=True)

    # -- what `weighbridge ps` reads ------------------------------------------------------

    def state_path(self) -> Path:
        return self._state_dir / f"{os.getpid()}-{_safe(self.model_id)}.json"

    def write_state(self) -> None:
        if self.process is None:
            return
        state = {
            "model": self.model_id,
            "file": str(self.path),
            "pid": self.process.pid,
            "parent_pid": os.getpid(),
            "slots": self.options.slots,
            "ctx_per_slot": self.options.ctx_per_slot,
            "served": self.served,
            "in_flight": self.in_flight,
            "restarts": self.restarts,
            "started_at": self.started_at,
            "log": str(self._log_path),
        }
        if state == self._written:  # watch() asks twice a second; the disk hears of changes only
            return
        path = self.state_path()
        path.with_suffix(".tmp").write_text(json.dumps(state))
        path.with_suffix(".tmp").replace(path)
        self._written = state

    def log_tail(self, lines: int = 3) -> str:
        try:
            tail = self._log_path.read_text("utf-8", "replace").strip().splitlines()[-lines:]
        except OSError:
            return "no log"
        return " | ".join(tail) or "no output"


def _die_with_parent(parent: int) -> Callable[[], None]:
    """A pre-exec hook asking the kernel to SIGKILL the child when its parent dies (Linux)."""

    def hook() -> None:
        if sys.platform.startswith("linux"):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
            if os.getppid() != parent:  # the parent died before the request took effect
                os.kill(os.getpid(), signal.SIGKILL)

    return hook


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
