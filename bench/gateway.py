"""Gateway benchmark: the latency ``weighbridge serve`` adds to an OpenAI-compatible upstream, and
the requests/s it carries, against LiteLLM's proxy (the peer) measured in the same run.

    .venv/bin/python bench/gateway.py [--quick] [--no-litellm] [--no-pin] [--profile] [--scale-out]
                                      [--no-auto]

Everything runs on loopback and stops by itself (each measurement ends after N requests or a time
limit); every process it starts is ended on exit, Ctrl-C, SIGTERM or an error. The pieces, each
its own process:

- upstream: a hand-written HTTP/1.1 keep-alive responder on raw asyncio that answers
  ``POST /v1/chat/completions`` with one fixed, small ``chat.completion`` and ``GET /v1/models``.
  It counts the connections it accepts, so the report says how many each gateway opened. Its
  capacity is measured first with a raw-socket client ("upstream raw": about 20,000 req/s here,
  ten times what the load generator can send), to show it is never the bottleneck; a much lower
  figure there means something else was using the machine during the run.
- load generator: httpx, async, HTTP/1.1 keep-alive, C connections for concurrency C: C workers,
  each with its own httpx transport (a pool of one connection), send N requests after a
  warm-up and record each one's latency. ``--loadgen client`` uses one shared ``httpx.AsyncClient``
  whose pool holds C connections instead; httpcore's shared pool is not fit to measure with: it
  checks every pooled connection on each request and serves its queue unfairly, so on its own
  against the upstream it fell from about 1,600 req/s at C=1 to 530 at C=64, with a 550 ms p99.
- targets: (a) the upstream directly, (b) ``weighbridge serve`` with the upstream configured as
  an ``openai`` provider (no key, a fresh temporary ``WEIGHBRIDGE_HOME``; ``--weighbridge CMD``
  starts another build instead), (c) LiteLLM's proxy (``litellm --config``, one worker) with a
  ``model_list`` entry for the upstream, no master key (as weighbridge on loopback: neither side
  authenticates), and its cost-map download and telemetry turned off. LiteLLM lives in its own
  virtual environment, made on first use at ``bench/.venv-litellm`` (``--litellm-venv``; a
  ``.gitignore`` inside keeps it out of git) with ``pip install 'litellm[proxy]'``, excluding the
  versions an attacker published in the 2026 supply-chain incidents, and reused after that. If it
  cannot be installed or started the script says why and reports the other rows.

``--scale-out`` adds the gateway on PostgreSQL (a throwaway server the run starts with initdb and
pg_ctl, as the tests do) and with 2 and 4 workers, and, beside them, LiteLLM's proxy with its
database on that same server ("litellm-postgres"): the setup LiteLLM is run in for production,
where it logs each request's spend to PostgreSQL. A database obliges LiteLLM to have a master key,
so that row's requests carry one (a fresh ``sk-`` key each run). LiteLLM reaches PostgreSQL through
Prisma, which ``litellm[proxy]`` does not bring: the first such run adds the ``prisma`` package to
LiteLLM's venv, and LiteLLM then fetches the Prisma CLI from npm and Prisma's engine binaries from
Prisma's own download host, caching both in the venv (``prisma-cache``). A machine that cannot
reach that host cannot run LiteLLM with a database; the report then says so in a note and gives
the other rows.

Each target is measured alone (the others are stopped), warmed up first, at concurrency 1, 16 and
64. On a 2-core machine the load generator, the upstream and the gateway share the CPUs, so by
default the gateway under test gets one core to itself and the load generator and the upstream
share the other (``os.sched_setaffinity``, inherited by every thread and child process); with 3 or
more cores each gets its own. ``--no-pin`` leaves placement to the scheduler. The direct row is
then what the load generator and the upstream do on their core, and a gateway row is bounded by
that same core or by the gateway's own, whichever is the slower.

The machine may be shared: each level also reports "others", the share of all CPU time that
processes outside the run used meanwhile (``/proc/stat`` less what the run's own processes
used). Above a few percent the run measured the neighbours as much as the gateway, and the
report says so; the "upstream raw" row (the upstream's capacity, measured first) tells the same
about the start of the run.

Targets (the issue's): added p50 latency (gateway p50 minus direct p50) <= 1 ms at concurrency
1; requests/s at concurrency 64 >= 0.5x direct and >= 5x LiteLLM. The whole run takes about
3 minutes on 2 cores (``--quick``: about 1 minute), plus LiteLLM's install the first time.
``--profile`` adds one more concurrency-64 run against weighbridge, not in the table, with py-spy
sampling the gateway, and prints where its CPU goes per request, by component
(``--profile-out FILE`` keeps the collapsed stacks, for a flame graph).

Then, in this process, what an auto route's decision adds to planning a request (target: at
most 0.1 ms p50): the planner on an auto route against the same targets in order, with the
evidence of a real compare run on the bench upstream (``--no-auto`` skips it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import secrets
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.support.postgres import PostgresServer

HERE = Path(__file__).resolve().parent
LITELLM_SPEC = "litellm[proxy]!=1.82.7,!=1.82.8,!=1.107.*"  # never the attacker-published releases
#: LiteLLM's database layer: the range its ``extra_proxy`` extra asks for, without that extra's
#: cloud key-vault and e-mail clients, which a benchmark has no use for.
PRISMA_SPEC = "prisma>=0.11.0,<1.0"
NO_KEY = "bench-not-a-key"  # what the load generator sends where no gateway checks a key
MODEL = "bench"  # the name callers use, on both gateways
UPSTREAM_MODEL = "bench-upstream-model"
PROMPT = "Say hello in one short sentence."
LEVELS = (1, 16, 64)
LOADGEN_TEXT = {
    "transport": "one connection per concurrent worker (an httpx transport each)",
    "client": "one shared httpx.AsyncClient whose pool holds `concurrency` connections",
}

# -- the upstream: raw asyncio, hand-written HTTP/1.1 ---------------------------------------

_CHAT_BODY = json.dumps(
    {
        "id": "chatcmpl-bench0000000000000000000000",
        "object": "chat.completion",
        "created": 1764000000,
        "model": UPSTREAM_MODEL,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Hello! How can I help you today?",
                    "refusal": None,
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 14, "completion_tokens": 9, "total_tokens": 23},
        "system_fingerprint": None,
    },
    separators=(",", ":"),
).encode()
_MODELS_BODY = json.dumps(
    {
        "object": "list",
        "data": [{"id": UPSTREAM_MODEL, "object": "model", "created": 0, "owned_by": "bench"}],
    },
    separators=(",", ":"),
).encode()


def _http_response(status: str, body: bytes, *, close: bool = False, kind: str = "application/json") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
        f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n"
    )
    return head.encode() + body


def _chunk(delta: dict[str, Any], finish: str | None = None, usage: bool = False) -> bytes:
    body: dict[str, Any] = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1764000000}
    body["model"] = UPSTREAM_MODEL
    body["choices"] = [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}]
    if usage:
        body["usage"] = {"prompt_tokens": 14, "completion_tokens": 9, "total_tokens": 23}
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


_CHAT = _http_response("200 OK", _CHAT_BODY)
#: The same answer streamed (compare runs stream), with its usage, in one write.
_CHAT_STREAM = _http_response(
    "200 OK",
    _chunk({"role": "assistant", "content": "Hello! How can I help you today?"})
    + _chunk({}, "stop")
    + _chunk({}, usage=True)
    + b"data: [DONE]\n\n",
    kind="text/event-stream",
)
_MODELS = _http_response("200 OK", _MODELS_BODY)
_HEALTH = _http_response("200 OK", b'{"status":"ok"}')
_NOT_FOUND = _http_response("404 Not Found", b'{"error":{"message":"not found"}}')
_NO_CHUNKED = _http_response(
    "411 Length Required", b'{"error":{"message":"send Content-Length"}}', close=True
)


class _Counters:
    connections = 0
    requests = 0


class UpstreamProtocol(asyncio.Protocol):
    """One connection: parse requests as they come (pipelining too) and answer each at once."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buf = bytearray()
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _Counters.connections += 1

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end]).lower()
            length = 0
            at = head.find(b"\r\ncontent-length:")
            if at >= 0:
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : stop if stop >= 0 else None])
            elif b"\r\ntransfer-encoding:" in head:
                self.transport.write(_NO_CHUNKED)
                self.transport.close()
                return
            total = end + 4 + length
            if len(buf) < total:
                return
            streamed = re.search(rb'"stream"\s*:\s*true', buf[end + 4 : total]) is not None
            del buf[:total]
            line_end = head.find(b"\r\n")
            method, _, rest = head[: line_end if line_end >= 0 else None].partition(b" ")
            path = rest.partition(b" ")[0].partition(b"?")[0]
            _Counters.requests += 1
            if method == b"post" and path.endswith(b"/chat/completions"):
                self.transport.write(_CHAT_STREAM if streamed else _CHAT)
            elif method == b"get" and path.endswith(b"/models"):
                self.transport.write(_MODELS)
            elif method == b"get" and path == b"/health":
                self.transport.write(_HEALTH)
            elif method == b"get" and path == b"/stats":
                body = json.dumps({"connections": _Counters.connections, "requests": _Counters.requests})
                self.transport.write(_http_response("200 OK", body.encode()))
            else:
                self.transport.write(_NOT_FOUND)
            if b"\r\nconnection: close" in head:
                self.transport.close()
                return


def run_upstream(port: int) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        await loop.create_server(UpstreamProtocol, "127.0.0.1", port, backlog=1024, reuse_address=True)
        await asyncio.Future()  # until SIGTERM, whose default action ends the process at once

    asyncio.run(main())


# -- the load generator -----------------------------------------------------------------------


def _summary(latencies: list[float], elapsed: float, errors: int, first_error: str | None) -> dict[str, Any]:
    latencies.sort()
    n = len(latencies)

    def pct(p: float) -> float:
        return latencies[min(n - 1, int(p * n))] * 1000 if n else float("nan")

    return {
        "n": n,
        "errors": errors,
        "first_error": first_error,
        "elapsed_s": elapsed,
        "rps": n / elapsed if elapsed > 0 else 0.0,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "mean_ms": statistics.fmean(latencies) * 1000 if n else float("nan"),
    }


async def _httpx_load(
    url: str,
    concurrency: int,
    count: int,
    warmup: int,
    max_s: float,
    warm_s: float,
    shared_pool: bool,
    api_key: str = NO_KEY,
) -> dict[str, Any]:
    """``concurrency`` workers, each with its own keep-alive connection: one httpx transport (a
    pool of one) per worker, fed prebuilt requests. ``shared_pool``: one ``httpx.AsyncClient``
    whose pool holds ``concurrency`` connections instead, as an application would use it;
    httpcore's shared pool is slow and unfair past a few connections (see the module's notes).
    Every request carries ``Authorization: Bearer api_key``: a placeholder where the gateway
    checks no key, the master key where it must (LiteLLM with a database)."""
    import httpx

    body = json.dumps(
        {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 16}
    ).encode()
    headers = {"content-type": "application/json", "authorization": f"Bearer {api_key}"}
    if shared_pool:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        client = httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(60.0), trust_env=False)

        async def send_pooled(_: int) -> tuple[int, bytes]:
            response = await client.post(url, content=body, headers=headers)
            return response.status_code, response.content

        send_on: Callable[[int], Awaitable[tuple[int, bytes]]] = send_pooled

        closers = [client.aclose]
    else:
        one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        transports = [httpx.AsyncHTTPTransport(limits=one) for _ in range(concurrency)]
        timeout = {"connect": 60.0, "read": 60.0, "write": 60.0, "pool": 60.0}

        async def send_own(worker: int) -> tuple[int, bytes]:
            request = httpx.Request(
                "POST", url, content=body, headers=headers, extensions={"timeout": timeout}
            )
            response = await transports[worker].handle_async_request(request)
            try:
                return response.status_code, await response.aread()
            finally:
                await response.aclose()

        send_on = send_own
        closers = [t.aclose for t in transports]

    async def phase(n: int, limit_s: float, record: list[float] | None) -> tuple[int, str | None]:
        left = n
        errors = 0
        first_error: str | None = None
        deadline = time.perf_counter() + limit_s

        async def worker(index: int) -> None:
            nonlocal left, errors, first_error
            while left > 0 and time.perf_counter() < deadline:
                left -= 1
                start = time.perf_counter()
                try:
                    status, content = await send_on(index)
                    ok = status == 200 and content.startswith(b"{")
                    why = f"HTTP {status}: {content[:200].decode(errors='replace')}"
                except httpx.HTTPError as exc:
                    ok, why = False, f"{type(exc).__name__}: {exc}"
                took = time.perf_counter() - start
                if ok:
                    if record is not None:
                        record.append(took)
                else:
                    errors += 1
                    first_error = first_error or why

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        return errors, first_error

    try:
        await phase(warmup, warm_s, None)  # opens the connections and warms both ends
        latencies: list[float] = []
        start = time.perf_counter()
        errors, first_error = await phase(count, max_s, latencies)
        return _summary(latencies, time.perf_counter() - start, errors, first_error)
    finally:
        for close in closers:
            await close()


async def _raw_load(
    port: int, concurrency: int, count: int, warmup: int, max_s: float, warm_s: float
) -> dict[str, Any]:
    """Keep-alive requests over plain asyncio streams: what the upstream can do without httpx."""
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": PROMPT}]}).encode()
    request = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(concurrency)]

    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(request)
        head = (await reader.readuntil(b"\r\n\r\n")).lower()
        at = head.index(b"content-length:")
        await reader.readexactly(int(head[at + 15 : head.index(b"\r\n", at)]))

    async def phase(n: int, limit_s: float, record: list[float] | None) -> None:
        left = n
        deadline = time.perf_counter() + limit_s

        async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal left
            while left > 0 and time.perf_counter() < deadline:
                left -= 1
                start = time.perf_counter()
                await one(reader, writer)
                if record is not None:
                    record.append(time.perf_counter() - start)

        await asyncio.gather(*(worker(r, w) for r, w in conns))

    await phase(warmup, warm_s, None)
    latencies: list[float] = []
    start = time.perf_counter()
    await phase(count, max_s, latencies)
    elapsed = time.perf_counter() - start
    for _, writer in conns:
        writer.close()
    return _summary(latencies, elapsed, 0, None)


def run_load(args: argparse.Namespace) -> None:
    if args.raw_port:
        result = asyncio.run(
            _raw_load(args.raw_port, args.c, args.n, args.warmup, args.max_seconds, args.warmup_seconds)
        )
    else:
        result = asyncio.run(
            _httpx_load(
                args.url,
                args.c,
                args.n,
                args.warmup,
                args.max_seconds,
                args.warmup_seconds,
                args.loadgen == "client",
                args.api_key,
            )
        )
    print(json.dumps(result))


# -- processes --------------------------------------------------------------------------------


class Processes:
    """Every process this run starts, each in its own session so its children go with it."""

    def __init__(self) -> None:
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, cmd: list[str], *, cores: set[int] | None, **kw: Any) -> subprocess.Popen[bytes]:
        def place() -> None:
            if cores:
                os.sched_setaffinity(0, cores)

        proc = subprocess.Popen(cmd, start_new_session=True, preexec_fn=place, **kw)
        self.running.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)  # the group this run made for it, by its id
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        else:  # its children (a server's workers) may outlive it in its group
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        if proc in self.running:
            self.running.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self.running)):
            with contextlib.suppress(Exception):
                self.stop(proc, timeout=5)


def _process_seconds(pid: int) -> float:
    """CPU seconds a process and the children it has reaped have used (``/proc/PID/stat``)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float) -> str | None:
    """None once ``url`` answers 200; else why not."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"it exited with status {proc.returncode}"
        try:
            if httpx.get(url, timeout=2, trust_env=False).status_code == 200:
                return None
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return f"{url} did not answer 200 within {timeout:.0f} s"


def tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    keep = [line for line in text if not line.startswith("WARNING: Location ")]
    return "\n".join("    " + line for line in keep[-lines:])


@dataclass
class Placement:
    load: set[int] | None
    upstream: set[int] | None
    gateway: set[int] | None
    text: str


def placement(pin: bool) -> Placement:
    cores = sorted(os.sched_getaffinity(0))
    if not pin or len(cores) < 2:
        why = "--no-pin" if not pin else "one core"
        return Placement(None, None, None, f"no pinning ({why}): the scheduler places every process")
    if len(cores) == 2:
        a, b = {cores[0]}, {cores[1]}
        return Placement(
            a,
            a,
            b,
            f"pinned: gateway under test on core {cores[1]} alone; load generator and upstream "
            f"share core {cores[0]}",
        )
    a, b, c = {cores[0]}, {cores[1]}, {cores[2]}
    return Placement(
        a, b, c, f"pinned: load generator core {cores[0]}, upstream core {cores[1]}, gateway core {cores[2]}"
    )


# -- the targets ------------------------------------------------------------------------------


@dataclass
class Run:
    target: str
    concurrency: int
    result: dict[str, Any]


@dataclass
class Bench:
    args: argparse.Namespace
    procs: Processes
    place: Placement
    tmp: Path
    runs: list[Run] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    profile_text: str | None = None
    logged_errors: bool = False

    def load(
        self,
        url: str | None,
        c: int,
        n: int,
        max_s: float,
        *,
        warmup: int | None = None,
        raw_port: int = 0,
        api_key: str | None = None,
    ) -> dict[str, Any]:
        """One load-generator process: ``warmup`` requests (default: a few per connection), then
        ``n`` measured ones, each phase cut off by its time limit; ``api_key`` is the bearer key
        its requests carry, for a gateway that checks one."""
        warm_s = self.args.warmup_seconds
        cmd = [
            sys.executable,
            __file__,
            "--role",
            "load",
            "--c",
            str(c),
            "--n",
            str(n),
            "--warmup",
            str(max(50, 4 * c) if warmup is None else warmup),
            "--max-seconds",
            str(max_s),
            "--warmup-seconds",
            str(warm_s),
            "--loadgen",
            self.args.loadgen,
        ]
        cmd += ["--raw-port", str(raw_port)] if raw_port else ["--url", str(url)]
        if api_key:
            cmd += ["--api-key", api_key]
        proc = self.procs.start(cmd, cores=self.place.load, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = proc.communicate(timeout=max_s + warm_s + 120)
        finally:
            self.procs.stop(proc)
        if proc.returncode != 0:
            raise RuntimeError(f"the load generator failed: {err.decode(errors='replace')[-2000:]}")
        result: dict[str, Any] = json.loads(out)
        return result

    def measure(self, target: str, url: str, *, log: Path | None = None, api_key: str | None = None) -> None:
        """Warm the target, then run each concurrency level against it (with ``api_key`` as the
        bearer key where the target checks one)."""
        a = self.args
        self.load(url, 16, 0, 0.0, warmup=a.warmup, api_key=api_key)  # its own warm-up, then per level
        self.load(url, 1, 0, 0.0, warmup=max(20, a.warmup // 10), api_key=api_key)
        for c in LEVELS:
            count = {1: a.n1, 16: a.n16, 64: a.n64}[c]
            before = self.cpu_snapshot()
            result = self.load(url, c, count, a.max_seconds, api_key=api_key)
            result["others_pct"] = self.others_share(before, self.cpu_snapshot())
            self.runs.append(Run(target, c, result))
            err = f", {result['errors']} errors ({result['first_error']})" if result["errors"] else ""
            if result["errors"] and log is not None and not self.logged_errors:
                self.logged_errors = True
                err += f"\n  the end of its log:\n{tail(log)}"
            print(
                f"  {target:16} c={c:<3} {result['n']:>6} req in {result['elapsed_s']:5.1f} s  "
                f"p50 {result['p50_ms']:7.2f} ms  p99 {result['p99_ms']:7.2f} ms  "
                f"{result['rps']:8.0f} req/s  others {result['others_pct']:3.0f}%{err}",
                flush=True,
            )

    def cpu_snapshot(self) -> tuple[int, int, int]:
        """(busy, all) clock ticks of the whole machine, and the ticks this run's own processes
        used: this one, the children it has reaped (the load generators), and those running."""
        with open("/proc/stat") as f:
            ticks = [int(x) for x in f.readline().split()[1:]]
        idle = ticks[3] + ticks[4]  # idle, iowait
        ours = sum(os.times()[:4])
        for proc in self.procs.running:
            with contextlib.suppress(OSError):
                ours += _process_seconds(proc.pid)
        return sum(ticks) - idle, sum(ticks), round(ours * os.sysconf("SC_CLK_TCK"))

    @staticmethod
    def others_share(before: tuple[int, int, int], after: tuple[int, int, int]) -> float:
        """Percent of the machine's CPU time that processes outside this run used in between: a
        run where it is more than a few percent measured a shared machine, not the gateway."""
        busy, total, ours = (b - a for a, b in zip(before, after, strict=True))
        return max(0.0, 100 * (busy - ours) / total) if total > 0 else 0.0

    # profiling (--profile) -------------------------------------------------------------------

    def profile(self, url: str, pid: int) -> None:
        """An extra c=64 run, not in the table, with py-spy sampling the gateway (blocking mode:
        it pauses the gateway for each sample, so stacks are whole but the run is a bit slower)."""
        spy = Path(sys.executable).parent / "py-spy"
        if not spy.exists():
            self.notes.append("--profile: py-spy is not installed in this venv")
            return
        out = self.tmp / "gateway-profile.txt"
        seconds = max(3, int(self.args.max_seconds))
        cmd = [
            str(spy),
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--rate",
            "200",
            "--output",
            str(out),
            "--duration",
            str(seconds),
        ]
        spy_proc = self.procs.start(
            cmd, cores=self.place.load, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        time.sleep(1.0)  # let it attach before the load starts
        result = self.load(url, 64, 10**6, seconds - 1.5)
        with contextlib.suppress(subprocess.TimeoutExpired):
            spy_proc.wait(timeout=seconds + 30)
        err = spy_proc.stderr.read().decode(errors="replace") if spy_proc.stderr else ""
        self.procs.stop(spy_proc)
        if not out.exists():
            self.profile_text = f"py-spy wrote no profile: {err.strip()[-500:]}"
            return
        self.profile_text = profile_report(out, result)
        if self.args.profile_out:
            shutil.copyfile(out, self.args.profile_out)
            self.notes.append(f"py-spy's collapsed stacks saved to {self.args.profile_out}")


_IDLE = "event loop: scheduling, select(), socket calls (asyncio)"
#: Where a sample's time goes: the innermost frame on its stack that matches one of these
#: (file fragment, function fragment), walking from the leaf toward the root.
_COMPONENTS: list[tuple[str, str, str]] = [
    ("log write: Store.record (sqlite + hash chain)", "weighbridge/store/", ""),
    ("metrics observer", "weighbridge/server/metrics", "observe"),
    ("upstream call: aiohttp transport", "weighbridge/providers/transport", ""),
    ("upstream call: aiohttp transport", "aiohttp/", ""),
    ("upstream call: aiohttp transport", "yarl/", ""),
    ("upstream call: aiohttp transport", "multidict/", ""),
    ("upstream call: aiohttp transport", "aiohappyeyeballs/", ""),
    ("upstream call: httpx client (and httpcore)", "httpx/", ""),
    ("upstream call: httpx client (and httpcore)", "httpcore/", ""),
    ("upstream call: httpx client (and httpcore)", "httpx2/", ""),
    ("upstream call: httpx client (and httpcore)", "httpcore2/", ""),
    ("upstream call: provider (body, parsing, retry)", "weighbridge/providers/", ""),
    ("building the response (Call.response, pydantic)", "weighbridge/call", "response"),
    ("building the response (Call.response, pydantic)", "weighbridge/client", "response"),
    ("log record build (Call.record)", "weighbridge/call", "record"),
    ("log record build (Call.record)", "weighbridge/client", "record"),
    ("request parse + validation (pydantic)", "weighbridge/server/openai_wire", "parse"),
    ("target resolution + cost reservation", "weighbridge/client", "max_cost"),
    ("target resolution + cost reservation", "weighbridge/client", "calls"),
    ("target resolution + cost reservation", "weighbridge/client", "_prepare"),
    ("target resolution + cost reservation", "weighbridge/targets", ""),
    ("client: _provider() / httpx.AsyncClient construction", "weighbridge/client", "_provider"),
    ("response JSON (completion_json + JSONResponse)", "weighbridge/server/openai_wire", "completion_json"),
    ("response JSON (completion_json + JSONResponse)", "starlette/responses", ""),
    ("reading the request body", "weighbridge/server/body", "read_json"),
    (_IDLE, "weighbridge/cli", ""),
    ("other weighbridge code", "weighbridge/", ""),
    ("HTTP server: uvicorn + h11", "uvicorn/protocols", ""),
    ("HTTP server: uvicorn + h11", "h11/", ""),
    ("HTTP server: uvicorn + h11", "httptools", ""),
    ("ASGI plumbing: starlette routing + middleware", "starlette/", ""),
    ("ASGI plumbing: starlette routing + middleware", "uvicorn/middleware", ""),
]


#: Claimed whatever runs beneath them (the httpx client a ``_provider()`` call constructs is
#: not an upstream call).
_CLAIMS: list[tuple[str, str, str]] = [
    ("client: _provider() / httpx.AsyncClient construction", "weighbridge/client", "_provider"),
    ("log write: Store.record (sqlite + hash chain)", "weighbridge/store/", ""),
]


def _component(stack: list[str]) -> str:
    """Generic frames (asyncio, anyio, json, sqlite3...) count for whichever component called
    them; what no component claims is the event loop's own work."""
    for label, file_part, func_part in _CLAIMS:
        for frame in stack:
            name, _, where = frame.partition(" (")
            if file_part in where and func_part in name:
                return label
    for frame in reversed(stack):
        name, _, where = frame.partition(" (")
        for label, file_part, func_part in _COMPONENTS:
            if file_part in where and func_part in name:
                return label
    return _IDLE


def profile_report(path: Path, run: dict[str, Any]) -> str:
    """Where the gateway's CPU went, by component, from py-spy's collapsed stacks."""
    by_component: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        count = int(count_text)
        stack = stack_text.split(";")
        total += count
        label = _component(stack)
        by_component[label] = by_component.get(label, 0) + count
        leaf = _short(stack[-1])
        own[leaf] = own.get(leaf, 0) + count
    if not total:
        return "py-spy recorded no busy samples"
    per_request_us = 1e6 / run["rps"] if run["rps"] else float("nan")
    lines = [
        f"{total} busy samples over a c=64 run of {run['n']} requests at {run['rps']:.0f} req/s "
        f"(the gateway is CPU-bound there, so one request costs about {per_request_us:.0f} us of its core):",
        f"  {'share':>6} {'~us/req':>8}  component (innermost match on each stack)",
    ]
    for label, count in sorted(by_component.items(), key=lambda kv: -kv[1]):
        share = count / total
        lines.append(f"  {100 * share:5.1f}% {share * per_request_us:8.0f}  {label}")
    lines.append("  top self time:")
    for name, count in sorted(own.items(), key=lambda kv: -kv[1])[:12]:
        lines.append(f"  {100 * count / total:5.1f}%           {name}")
    return "\n".join(lines)


def _short(frame: str) -> str:
    """``function (path/to/pkg/module.py:123)`` -> ``function (pkg/module)``."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    short = "/".join(Path(path).parts[-2:]).removesuffix(".py")
    return f"{name} ({short})"


def start_upstream(bench: Bench) -> tuple[int, subprocess.Popen[bytes]]:
    port = free_port()
    proc = bench.procs.start(
        [sys.executable, __file__, "--role", "upstream", "--port", str(port)],
        cores=bench.place.upstream,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    why = wait_http(f"http://127.0.0.1:{port}/health", proc, 30)
    if why:
        raise RuntimeError(f"the upstream did not start: {why}")
    return port, proc


def upstream_stats(port: int) -> dict[str, int]:
    import httpx

    data: dict[str, int] = httpx.get(f"http://127.0.0.1:{port}/stats", timeout=5, trust_env=False).json()
    return data


def start_weighbridge(
    bench: Bench,
    upstream: int,
    *,
    name: str = "weighbridge",
    database_url: str | None = None,
    workers: int = 1,
) -> tuple[str, subprocess.Popen[bytes]]:
    """``weighbridge serve`` on a fresh home: its SQLite store, or ``database_url``'s PostgreSQL;
    ``workers`` processes on the port."""
    home = bench.tmp / f"{name}-home"
    home.mkdir()
    (home / "config.toml").write_text(
        f'default_model = "{MODEL}"\n\n'
        "[providers.bench-upstream]\n"
        'type = "openai"\n'
        f'base_url = "http://127.0.0.1:{upstream}/v1"\n'
        "data_leaves_machine = false\n\n"
        f"[models.{MODEL}]\n"
        'provider = "bench-upstream"\n'
        f'model = "{UPSTREAM_MODEL}"\n'
    )
    env = dict(os.environ, WEIGHBRIDGE_HOME=str(home))
    for var in (
        "WEIGHBRIDGE_CONFIG",
        "WEIGHBRIDGE_MASTER_KEY",
        "WEIGHBRIDGE_DEBUG",
        "WEIGHBRIDGE_DATABASE_URL",
    ):
        env.pop(var, None)
    if database_url:
        env["WEIGHBRIDGE_DATABASE_URL"] = database_url
    port = free_port()
    log = bench.tmp / f"{name}.log"
    with log.open("wb") as sink:
        proc = bench.procs.start(
            [*shlex.split(bench.args.weighbridge), "serve", "--port", str(port), "--workers", str(workers)],
            cores=bench.place.gateway,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    why = wait_http(f"http://127.0.0.1:{port}/health", proc, 60)
    if why:
        raise RuntimeError(f"weighbridge serve did not start: {why}\n{tail(log)}")
    return f"http://127.0.0.1:{port}/v1/chat/completions", proc


def auto_decision(bench: Bench, upstream: int) -> None:
    """What ``strategy = "auto"`` adds to a request: the planner's time for an auto route against
    the same targets in order, in this process, on evidence from a real compare run (20 prompts,
    two models on the bench upstream, one dear and one cheap). The decision is memoized on the
    cached evidence, so this is a lookup; the first decision (the paired bootstrap) and a
    rebuild of the evidence, both off the request's path once warm, are printed beside it."""
    from weighbridge.client import Client
    from weighbridge.compare import promptset, runner
    from weighbridge.config import load_settings
    from weighbridge.evidence.advisor import EvidenceAdvisor
    from weighbridge.types import ChatRequest

    home = bench.tmp / "auto-home"
    home.mkdir()
    price = '{{ input_per_mtok = {0}, output_per_mtok = {0}, as_of = "2026-01-01", source = "bench" }}'
    (home / "config.toml").write_text(
        f'[providers.up]\ntype = "openai"\nbase_url = "http://127.0.0.1:{upstream}/v1"\n'
        "data_leaves_machine = false\n"
        + "".join(
            f'[models.{name}]\nprovider = "up"\nmodel = "{UPSTREAM_MODEL}"\nprice = {price.format(usd)}\n'
            for name, usd in (("dear", 10), ("cheap", 0.1))
        )
        + '[routes.ordered]\ntargets = [{ model = "dear" }, { model = "cheap" }]\n'
        + '[routes.auto]\nstrategy = "auto"\ntargets = [{ model = "dear" }, { model = "cheap" }]\n'
        + '[routes.auto.auto]\ntask = "greetings"\n'
    )
    prompts = home / "greetings.jsonl"
    answer = "Hello! How can I help you today?"
    prompts.write_text(
        "".join(
            json.dumps({"id": f"g{i}", "prompt": f"Greet visitor {i}.", "reference": answer}) + "\n"
            for i in range(20)
        )
    )
    previous = os.environ.get("WEIGHBRIDGE_HOME")
    os.environ["WEIGHBRIDGE_HOME"] = str(home)
    try:
        with Client(load_settings(home / "config.toml"), advisor=EvidenceAdvisor) as client:
            runner.run_sync(client, promptset.load(prompts), runner.RunOptions(models=["dear", "cheap"]))
            advisor = client.planner.advisor
            assert isinstance(advisor, EvidenceAdvisor)
            started = time.perf_counter()
            advisor.refresh(force=True)
            rebuild_ms = (time.perf_counter() - started) * 1000
            asked = {
                name: ChatRequest(model=name, messages=[{"role": "user", "content": PROMPT}])
                for name in ("ordered", "auto")
            }
            started = time.perf_counter()
            first = client.planner.calls(asked["auto"], "bench")
            first_ms = (time.perf_counter() - started) * 1000
            advisor.check_s = 3600.0  # the background check is not the request's time
            timings: dict[str, list[int]] = {"ordered": [], "auto": []}
            for _ in range(5):  # interleaved rounds, so drift in the machine hits both alike
                for name, request in asked.items():
                    for _ in range(4000):
                        began = time.perf_counter_ns()
                        client.planner.calls(request, "bench")
                        timings[name].append(time.perf_counter_ns() - began)
    finally:
        if previous is None:
            os.environ.pop("WEIGHBRIDGE_HOME", None)
        else:
            os.environ["WEIGHBRIDGE_HOME"] = previous
    ordered_us = statistics.median(timings["ordered"]) / 1000
    auto_us = statistics.median(timings["auto"]) / 1000
    added = auto_us - ordered_us
    verdict = "within" if added <= 100 else "OVER"
    why = first[0].route[2] if first[0].route else ""
    line = (
        f"auto routing: planning a request takes {auto_us:.1f} us p50 on an auto route vs "
        f"{ordered_us:.1f} us in order: the decision adds {added:.1f} us ({verdict} the 100 us "
        "target); it chose "
        f"{first[0].target.model_id} ({why}); a decision not made before took {first_ms:.1f} ms (once per "
        f"route, task and allowed targets: a rebuild makes the known ones again in the background) and "
        f"a rebuild of the evidence {rebuild_ms:.1f} ms"
    )
    print(f"  {line}", flush=True)
    bench.notes.append(line)


def scale_out(bench: Bench, upstream: int, later: contextlib.ExitStack) -> PostgresServer | None:
    """The gateway on PostgreSQL (a server this run starts, as the tests do), then with 2 and 4
    workers on the SQLite store. Returns the PostgreSQL server, kept running until ``later``
    closes, so that LiteLLM, measured after, gets its database on the same server; None where
    there is none."""
    sys.path.insert(0, str(HERE.parent))
    from tests.support.postgres import binaries, postgres_server

    server: PostgresServer | None = None
    if binaries() is None:
        bench.notes.append("PostgreSQL not measured: initdb/pg_ctl not found (setup.sh --dev installs them)")
    else:
        server = later.enter_context(postgres_server())
        url, proc = start_weighbridge(
            bench, upstream, name="wb-postgres", database_url=server.create_database()
        )
        bench.measure("wb-postgres", url, log=bench.tmp / "wb-postgres.log")
        bench.procs.stop(proc)
    for workers in (2, 4):
        name = f"wb-{workers}-workers"
        url, proc = start_weighbridge(bench, upstream, name=name, workers=workers)
        bench.measure(name, url, log=bench.tmp / f"{name}.log")
        bench.procs.stop(proc)
    return server


def litellm_venv(bench: Bench) -> tuple[Path | None, str]:
    """The LiteLLM venv's ``litellm`` executable (made on first use), or None and why not."""
    venv = Path(bench.args.litellm_venv).resolve()
    exe = venv / "bin" / "litellm"
    if not exe.exists():
        print(f"installing LiteLLM into {venv} (first run only; a few minutes)...", flush=True)
        log = bench.tmp / "litellm-install.log"
        try:
            subprocess.run(
                [sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300
            )
            (venv / ".gitignore").write_text("*\n")  # a venv inside the repository stays out of git
            with log.open("wb") as sink:
                done = subprocess.run(
                    [
                        str(venv / "bin" / "python"),
                        "-m",
                        "pip",
                        "install",
                        "--disable-pip-version-check",
                        LITELLM_SPEC,
                    ],
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    timeout=1200,
                )
        except (subprocess.SubprocessError, OSError) as exc:
            return None, f"could not create the venv: {exc}"
        if done.returncode != 0 or not exe.exists():
            return None, f"pip install '{LITELLM_SPEC}' failed (status {done.returncode}):\n{tail(log)}"
    bad = list(venv.glob("lib/python*/site-packages/litellm_init.pth"))
    if bad:
        return None, f"{bad[0]} exists: that is the 2026 supply-chain payload; not running this venv"
    try:
        version = subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-c",
                "import importlib.metadata as m; print(m.version('litellm'))",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout.strip()
    except (subprocess.SubprocessError, OSError) as exc:
        return None, f"{venv} is broken ({exc}); delete it to reinstall"
    return exe, version or "(unknown version)"


#: What LiteLLM must not take from this shell: a database, a cache or keys of its own, which
#: would make it another setup than the one measured.
_LITELLM_ENV_DROPPED = frozenset(
    {
        "DATABASE_URL",
        "DIRECT_URL",
        "DATABASE_URL_READ_REPLICA",
        "LITELLM_MASTER_KEY",
        "LITELLM_SALT_KEY",
        "REDIS_HOST",
        "REDIS_URL",
        "XDG_CACHE_HOME",
    }
)


def start_litellm(
    bench: Bench,
    exe: Path,
    upstream: int,
    *,
    name: str = "litellm",
    database_url: str | None = None,
    master_key: str | None = None,
) -> tuple[str, subprocess.Popen[bytes]]:
    """LiteLLM's proxy, one worker, in ``bench.tmp/name``: with no database and no key (as
    weighbridge on loopback), or on ``database_url`` with ``master_key``, which LiteLLM requires
    once it has a database. With a database it applies its migrations at start (so its schema
    updates stay on) and logs every request's spend there, as in production."""
    work = bench.tmp / name
    work.mkdir()
    config = work / "config.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        f"      model: openai/{UPSTREAM_MODEL}\n"
        f"      api_base: http://127.0.0.1:{upstream}/v1\n"
        "      api_key: dummy\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
        "  set_verbose: false\n"
    )
    env = dict(
        os.environ,
        LITELLM_LOCAL_MODEL_COST_MAP="True",  # no fetch of the price list from GitHub
        LITELLM_TELEMETRY="False",
        LITELLM_TELEMETRY_DISABLED="true",
        LITELLM_LOG="ERROR",
        LITELLM_DONT_SHOW_FEEDBACK_BOX="true",
        DISABLE_ADMIN_UI="True",
        NO_DOCS="True",
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        HOME=str(work),  # it writes caches under the home directory
    )
    for var in list(env):
        if var.endswith("_API_KEY") or var.startswith("PRISMA_") or var in _LITELLM_ENV_DROPPED:
            env.pop(var)
    if database_url is None:
        # no key, like weighbridge on loopback: neither side authenticates the caller; and no
        # schema to update
        env.update(LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY="true", DISABLE_SCHEMA_UPDATE="True")
    else:
        # Prisma's CLI (from npm) and engines (from Prisma's download host) are fetched at first
        # use into the home directory's cache: keep that cache in the LiteLLM venv, so that only
        # the first run fetches them.
        cache = exe.parent.parent / "prisma-cache"
        cache.mkdir(exist_ok=True)
        env.update(
            DATABASE_URL=database_url,
            LITELLM_MASTER_KEY=master_key or "",  # none: LiteLLM refuses to start, and says so
            PRISMA_HOME_DIR=str(cache),  # the Python client's binaries and its npm-installed CLI
            XDG_CACHE_HOME=str(cache / ".cache"),  # the CLI's engines
        )
    port = free_port()
    log = work / "litellm.log"
    with log.open("wb") as sink:
        proc = bench.procs.start(
            [
                str(exe),
                "--config",
                str(config),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--num_workers",
                "1",
            ],
            cores=bench.place.gateway,
            env=env,
            cwd=work,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    # With a database, a first start installs Prisma's toolchain and replays every migration
    # LiteLLM ships, which LiteLLM itself allows 10 minutes for.
    why = wait_http(f"http://127.0.0.1:{port}/health/liveliness", proc, 600 if database_url else 180)
    if why:
        cause = log_cause(log) if proc.poll() is not None else ""
        raise RuntimeError(f"LiteLLM did not start: {why}{': ' + cause if cause else ''}\n{tail(log)}")
    return f"http://127.0.0.1:{port}/v1/chat/completions", proc


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_ERROR_LINE = re.compile(r"error|exception|cannot|refus|failed", re.IGNORECASE)


def log_cause(log: Path) -> str:
    """The line of a failed start's log that says why, for a one-line note: the last one that
    reads as an error (LiteLLM prints the cause after a banner such as "migration cannot
    proceed"), else the last line."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return ""
    lines = [_ANSI.sub("", line).strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith("WARNING: Location ")]
    for line in reversed(lines):
        if _ERROR_LINE.search(line):
            return line[:400]
    return lines[-1][:400] if lines else ""


def litellm_prisma(bench: Bench, exe: Path) -> str | None:
    """Put ``prisma`` (LiteLLM's database client) into LiteLLM's venv if it is not there yet
    (``litellm[proxy]`` leaves it out); None once it is, else why not."""
    python = exe.parent / "python"
    try:
        found = subprocess.run([str(python), "-c", "import prisma"], capture_output=True, timeout=120)
        if found.returncode == 0:
            return None
        print(
            f"installing {PRISMA_SPEC} into LiteLLM's venv (its database client; first run only)...",
            flush=True,
        )
        log = bench.tmp / "litellm-prisma-install.log"
        with log.open("wb") as sink:
            done = subprocess.run(
                [str(python), "-m", "pip", "install", "--disable-pip-version-check", PRISMA_SPEC],
                stdout=sink,
                stderr=subprocess.STDOUT,
                timeout=600,
            )
    except (subprocess.SubprocessError, OSError) as exc:
        return f"could not install {PRISMA_SPEC}: {exc}"
    if done.returncode != 0:
        return f"pip install '{PRISMA_SPEC}' failed (status {done.returncode}): {log_cause(log)}"
    return None


def spend_log_rows(database_url: str, at_least: int, wait_s: float) -> int:
    """Rows in LiteLLM's spend log, once there are ``at_least`` or ``wait_s`` has passed: LiteLLM
    queues them and writes them in batches every few seconds."""
    import psycopg

    deadline = time.monotonic() + wait_s
    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        while True:
            row = conn.execute('SELECT count(*) FROM "LiteLLM_SpendLogs"').fetchone()
            rows = int(row[0]) if row else 0
            if rows >= at_least or time.monotonic() > deadline:
                return rows
            time.sleep(1.0)


def litellm_on_postgres(bench: Bench, exe: Path, version: str, upstream: int, server: PostgresServer) -> None:
    """LiteLLM with its database on the scale-out run's PostgreSQL server ("litellm-postgres"),
    requests carrying the master key that a database obliges it to have; then how many
    requests its spend log holds, to show it logged them. If it cannot run, a note says why."""
    why = litellm_prisma(bench, exe)
    if why:
        print(f"LiteLLM on PostgreSQL: {why}", flush=True)
        bench.notes.append(f"LiteLLM on PostgreSQL not measured: {why.splitlines()[0]}")
        return
    import psycopg

    key = f"sk-bench-{secrets.token_hex(16)}"  # fresh each run; LiteLLM refuses a well-known one
    try:
        database_url = server.create_database()
        print(
            f"starting LiteLLM {version} proxy on PostgreSQL (first run: Prisma's toolchain too)...",
            flush=True,
        )
        url, proc = start_litellm(
            bench, exe, upstream, name="litellm-postgres", database_url=database_url, master_key=key
        )
        before = upstream_stats(upstream)
        bench.measure(
            "litellm-postgres", url, log=bench.tmp / "litellm-postgres" / "litellm.log", api_key=key
        )
        forwarded = upstream_stats(upstream)["requests"] - before["requests"]
        try:
            rows = spend_log_rows(database_url, forwarded, 20.0)
            bench.notes.append(
                f"LiteLLM {version} on PostgreSQL logged {rows} requests to its spend log "
                f"(LiteLLM_SpendLogs) of the {forwarded} it forwarded during the measurement"
            )
        except psycopg.Error as exc:  # the rows measured above stand either way
            bench.notes.append(f"LiteLLM on PostgreSQL: its spend log could not be read: {exc}")
        bench.procs.stop(proc)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        reason = str(exc).splitlines()[0]
        if "binaries.prisma.sh" in reason:
            reason += (
                " (Prisma, LiteLLM's database layer, downloads its engine binaries from there at first "
                "use, and this machine cannot reach it)"
            )
        print(f"LiteLLM on PostgreSQL: {exc}", flush=True)
        bench.notes.append(f"LiteLLM on PostgreSQL not measured: {reason}")


def measure_litellm(bench: Bench, upstream: int, server: PostgresServer | None) -> None:
    """LiteLLM alone ("litellm"), then, with a scale-out run's PostgreSQL ``server``, LiteLLM on
    it ("litellm-postgres"); whatever fails becomes a note, and the other rows stand."""
    exe, why = litellm_venv(bench)
    if exe is None:
        print(f"LiteLLM: {why}", flush=True)
        bench.notes.append(f"LiteLLM not measured: {why.splitlines()[0]}")
        return
    try:
        print(f"starting LiteLLM {why} proxy...", flush=True)
        url, proc = start_litellm(bench, exe, upstream)
        before = upstream_stats(upstream)
        bench.measure("litellm", url, log=bench.tmp / "litellm" / "litellm.log")
        after = upstream_stats(upstream)
        bench.notes.append(
            f"LiteLLM {why} opened {after['connections'] - before['connections']} upstream "
            f"connections for {after['requests'] - before['requests']} requests"
        )
        bench.procs.stop(proc)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        print(f"LiteLLM: {exc}", flush=True)
        bench.notes.append(f"LiteLLM not measured: {str(exc).splitlines()[0]}")
    if server is not None:
        litellm_on_postgres(bench, exe, why, upstream, server)


# -- the report -------------------------------------------------------------------------------


def report(bench: Bench, upstream_capacity: dict[str, Any] | None) -> None:
    def get(target: str, c: int) -> dict[str, Any] | None:
        for run in bench.runs:
            if run.target == target and run.concurrency == c and run.result["n"]:
                return run.result
        return None

    print()
    print(
        f"{'target':16} {'conc':>4} {'requests':>8} {'errors':>6} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} "
        f"{'others':>7}"
    )
    if upstream_capacity:
        r = upstream_capacity
        print(
            f"{'upstream raw':16} {64:>4} {r['n']:>8} {0:>6} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} "
            f"{r['rps']:>8.0f}   (raw-socket client: the upstream's capacity)"
        )
    for run in bench.runs:
        r = run.result
        print(
            f"{run.target:16} {run.concurrency:>4} {r['n']:>8} {r['errors']:>6} {r['p50_ms']:>8.2f} "
            f"{r['p99_ms']:>8.2f} {r['rps']:>8.0f} {r.get('others_pct', 0.0):>6.0f}%"
        )

    def added(target: str, c: int, key: str) -> float | None:
        base, gw = get("direct", c), get(target, c)
        return gw[key] - base[key] if base and gw else None

    def rps_ratio(target: str, peer: str) -> float | None:
        a, b = get(target, 64), get(peer, 64)
        return a["rps"] / b["rps"] if a and b and b["rps"] else None

    def fmt(value: float | None, unit: str) -> str:
        if value is None:
            return "-"
        return f"{value:.2f} ms" if unit == "ms" else f"{value:.2f}x"

    def verdict(value: float | None, ok: bool) -> str:
        return "" if value is None else ("met" if ok else "MISSED")

    rows: list[tuple[str, float | None, float | None, str, str, str]] = []
    for c in (1, 16):
        for key, label in (("p50_ms", "p50"), ("p99_ms", "p99")):
            wb, ll = added("weighbridge", c, key), added("litellm", c, key)
            target, met = "", ""
            if c == 1 and key == "p50_ms":
                target, met = "<= 1.00 ms", verdict(wb, wb is not None and wb <= 1.0)
            rows.append((f"added {label} latency, c={c}", wb, ll, "ms", target, met))
    wb_ratio, ll_ratio = rps_ratio("weighbridge", "direct"), rps_ratio("litellm", "direct")
    rows.append(
        (
            "req/s at c=64 vs direct",
            wb_ratio,
            ll_ratio,
            "x",
            ">= 0.50x",
            verdict(wb_ratio, wb_ratio is not None and wb_ratio >= 0.5),
        )
    )
    vs_peer = rps_ratio("weighbridge", "litellm")
    print()
    print(f"{'measure':34} {'weighbridge':>12} {'litellm':>12} {'target':>11}  verdict")
    for name, wb, ll, unit, target, met in rows:
        print(f"{name:34} {fmt(wb, unit):>12} {fmt(ll, unit):>12} {target:>11}  {met}")
    print(
        f"{'weighbridge req/s / LiteLLM, c=64':34} {fmt(vs_peer, 'x'):>12} {'(peer)':>12} {'>= 5.00x':>11}  "
        f"{verdict(vs_peer, vs_peer is not None and vs_peer >= 5.0)}"
    )
    scale_out_report(bench, get)
    busiest = max(bench.runs, key=lambda run: run.result.get("others_pct", 0.0), default=None)
    if busiest is not None:
        share = busiest.result.get("others_pct", 0.0)
        verdict_text = "a quiet run" if share <= 5 else "NOISY: other processes competed; run it again"
        print(
            f"note: processes outside this run used at most {share:.0f}% of the machine's CPU during a "
            f"measurement ({busiest.target}, c={busiest.concurrency}): {verdict_text}"
        )
    for note in bench.notes:
        print(f"note: {note}")
    if bench.profile_text:
        print()
        print("where the weighbridge gateway spends its CPU (py-spy, an extra c=64 run):")
        print(bench.profile_text)


def scale_out_report(bench: Bench, get: Callable[[str, int], dict[str, Any] | None]) -> None:
    """The scale-out targets: what PostgreSQL adds to a request over SQLite, and what more
    workers carry (a ratio only means something where the gateway has as many cores); beside
    them, what its database adds to LiteLLM, the peer, and how the two compare on PostgreSQL."""
    one, pg = get("weighbridge", 1), get("wb-postgres", 1)
    ll, ll_pg = get("litellm", 1), get("litellm-postgres", 1)
    pg64, ll_pg64 = get("wb-postgres", 64), get("litellm-postgres", 64)
    if (one is None or pg is None) and ll_pg is None:
        return
    print()
    print(f"{'scale-out measure':62} {'value':>10} {'target':>10}  verdict")
    if ll is not None and ll_pg is not None:
        extra = ll_pg["p50_ms"] - ll["p50_ms"]
        print(f"{'LiteLLM on PostgreSQL over LiteLLM alone, added p50, c=1':62} {extra:>7.2f} ms")
    if pg64 and ll_pg64:
        label = "weighbridge on PostgreSQL req/s / LiteLLM on PostgreSQL, c=64"
        print(f"{label:62} {pg64['rps'] / ll_pg64['rps']:>9.2f}x")
    if one is None or pg is None:
        return
    for key, label in (("p50_ms", "p50"), ("p99_ms", "p99")):
        extra = pg[key] - one[key]
        target, met = ("<= 0.30 ms", "met" if extra <= 0.3 else "MISSED") if key == "p50_ms" else ("", "")
        print(f"{'PostgreSQL over SQLite, added ' + label + ', c=1':62} {extra:>7.2f} ms {target:>10}  {met}")
    one64 = get("weighbridge", 64)
    if pg64 and one64:
        print(f"{'PostgreSQL / SQLite req/s, c=64':62} {pg64['rps'] / one64['rps']:>9.2f}x")
    gateway_cores = len(bench.place.gateway or os.sched_getaffinity(0))
    direct = get("direct", 64)
    for workers in (1, 2, 4):
        run = get("weighbridge" if workers == 1 else f"wb-{workers}-workers", 64)
        if run is None or one64 is None:
            continue
        ratio = run["rps"] / one64["rps"]
        target, met = "", ""
        if workers == 2:
            target = ">= 1.70x"
            met = ("met" if ratio >= 1.7 else "MISSED") if gateway_cores >= 2 else "n/a: 1 core"
        vs_direct = f"  ({run['rps'] / direct['rps']:.2f}x direct)" if direct else ""
        label = f"{workers} worker(s) / 1 worker req/s, c=64"
        print(f"{label:62} {ratio:>9.2f}x {target:>10}  {met}{vs_direct}")
    if gateway_cores < 2:
        bench.notes.append(
            f"the gateway had {gateway_cores} core: more workers can only share it; run on 4+ cores "
            "(or --no-pin on a bigger machine) for the workers' scaling"
        )


# -- main -------------------------------------------------------------------------------------


@contextlib.contextmanager
def benchmark_run(prefix: str) -> Iterator[tuple[Processes, Path]]:
    """The processes a benchmark starts and its scratch folder, and the one way a run ends:
    SIGTERM and Ctrl-C interrupt it (exit 130), a failure to start or measure ends it with its
    message (exit 1), and whatever happens every process it started is stopped and the folder
    removed. On success it says how long the run took."""
    began = time.monotonic()
    procs = Processes()

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C, even if started ignoring it
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield procs, tmp
        print(f"\ntook {time.monotonic() - began:.0f} s", flush=True)
    except KeyboardInterrupt:
        print("\ninterrupted; stopping every process this run started", file=sys.stderr)
        raise SystemExit(130) from None
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="about a minute: fewer requests per level")
    parser.add_argument("--no-litellm", action="store_true", help="skip the LiteLLM peer")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    parser.add_argument(
        "--scale-out",
        action="store_true",
        help="also the gateway on PostgreSQL (vs SQLite), and with 2 and 4 workers (vs 1)",
    )
    parser.add_argument("--profile", action="store_true", help="then py-spy the weighbridge gateway at c=64")
    parser.add_argument("--no-auto", action="store_true", help="skip the auto-routing decision's cost")
    parser.add_argument(
        "--loadgen",
        choices=["transport", "client"],
        default="transport",
        help="httpx per worker (one keep-alive connection each; default) or one shared AsyncClient pool",
    )
    parser.add_argument(
        "--profile-out", metavar="FILE", help="with --profile: keep py-spy's collapsed stacks"
    )
    parser.add_argument(
        "--weighbridge",
        default=str(Path(sys.executable).parent / "weighbridge"),
        help="the command that starts weighbridge ('serve --port N' is appended), to compare a build",
    )
    parser.add_argument("--litellm-venv", default=str(HERE / ".venv-litellm"), help="where LiteLLM lives")
    parser.add_argument("--n1", type=int, help="requests at concurrency 1")
    parser.add_argument("--n16", type=int, help="requests at concurrency 16")
    parser.add_argument("--n64", type=int, help="requests at concurrency 64")
    parser.add_argument("--warmup", type=int, help="warm-up requests per target")
    parser.add_argument("--max-seconds", type=float, help="time limit of one measurement")
    parser.add_argument("--warmup-seconds", type=float, help="time limit of one warm-up")
    # the child processes' roles
    parser.add_argument("--role", choices=["upstream", "load"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--raw-port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--c", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--api-key", default=NO_KEY, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.role == "upstream":
        run_upstream(args.port)
        return
    if args.role == "load":
        run_load(args)
        return

    defaults = (
        {"n1": 500, "n16": 1500, "n64": 2500, "warmup": 300, "max_seconds": 5.0, "warmup_seconds": 2.0}
        if args.quick
        else {
            "n1": 3000,
            "n16": 6000,
            "n64": 10000,
            "warmup": 1000,
            "max_seconds": 20.0,
            "warmup_seconds": 5.0,
        }
    )
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)

    place = placement(not args.no_pin)
    cores = len(os.sched_getaffinity(0))
    with benchmark_run("wb-gateway-bench-") as (procs, tmp):
        bench = Bench(args, procs, place, tmp)
        if place.load:
            os.sched_setaffinity(
                0, place.load
            )  # this coordinator mostly waits; keep it off the gateway's core
        print(
            f"gateway benchmark: {cores} cores ({platform.processor() or platform.machine()}), "
            f"Python {platform.python_version()}; the load generator, the upstream and the gateway "
            f"share this machine's CPUs.\n{place.text}.\n"
            f"Non-streamed chat completions; each level: a warm-up, then up to n requests or "
            f"{args.max_seconds:.0f} s. Latencies are the load generator's: httpx, HTTP/1.1 keep-alive, "
            f"{LOADGEN_TEXT[args.loadgen]}.",
            flush=True,
        )
        up_port, _ = start_upstream(bench)
        capacity = bench.load(None, 64, args.n64 * 2, args.max_seconds, raw_port=up_port)
        print(f"  {'upstream raw':16} c=64  {capacity['rps']:8.0f} req/s (raw-socket client)", flush=True)

        bench.measure("direct", f"http://127.0.0.1:{up_port}/v1/chat/completions")

        before = upstream_stats(up_port)
        try:
            url, proc = start_weighbridge(bench, up_port)
            bench.measure("weighbridge", url, log=tmp / "weighbridge.log")
            after = upstream_stats(up_port)
            bench.notes.append(
                f"weighbridge opened {after['connections'] - before['connections']} upstream connections "
                f"for {after['requests'] - before['requests']} requests"
            )
            if args.profile:
                bench.profile(url, proc.pid)
            bench.procs.stop(proc)
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            print(f"weighbridge: {exc}", flush=True)
            bench.notes.append(f"weighbridge not measured: {str(exc).splitlines()[0]}")

        if not args.no_auto:
            auto_decision(bench, up_port)

        # the scale-out run's PostgreSQL server stays up until LiteLLM has had its database on it
        with contextlib.ExitStack() as later:
            server = scale_out(bench, up_port, later) if args.scale_out else None
            if args.no_litellm:
                bench.notes.append("LiteLLM skipped (--no-litellm)")
            else:
                measure_litellm(bench, up_port, server)
        report(bench, capacity)


if __name__ == "__main__":
    main()
