"""Local serving through supervised llama-server engines: concurrent requests decoded together
and kept apart, a crash mid-stream, no orphans, the pin checked before an engine starts, and a
disconnect that frees its slot at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from tests.support.cli import WEIGHBRIDGE, run_cli
from tests.support.gateway import serving, wait_until_healthy
from tests.support.servers import free_port
from weighbridge.engines.binary import find_llama_server
from weighbridge.engines.status import running_engines

pytestmark = pytest.mark.skipif(
    find_llama_server() is None and not os.environ.get("CI"), reason="llama-server is built by ./setup.sh"
)

ENGINE_CONFIG = """
[engine]
local = "llama-server"
slots = {slots}
ctx_per_slot = 1024
"""
WORDS = [
    "apple", "river", "piano", "tiger", "candle", "forest", "silver", "rocket",
    "garden", "winter", "orange", "castle", "pencil", "marble", "falcon", "banana",
]  # fmt: skip


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    home = tmp_path_factory.mktemp("gw")
    with serving(home, config=ENGINE_CONFIG.format(slots=16), engines=True) as base:
        yield base, home


def sdk(base: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=120)


def engine_pids(home: Path) -> list[int]:
    return [engine.pid for engine in running_engines(home)]


def test_sixteen_concurrent_requests_each_get_their_own_answer(gateway: tuple[str, Path]) -> None:
    base, home = gateway

    def ask(word: str) -> tuple[str, str, int]:
        answer = client.chat.completions.create(
            model="smollm2-135m",
            messages=[
                {"role": "system", "content": "You repeat the code word you are given, and nothing else."},
                {"role": "user", "content": f"The code word is {word}. Repeat the code word."},
            ],
            max_tokens=12,
            temperature=0,
        )
        usage = answer.usage.completion_tokens if answer.usage else 0
        return word, (answer.choices[0].message.content or "").lower(), usage

    began = time.monotonic()
    with sdk(base) as client, ThreadPoolExecutor(len(WORDS)) as pool:
        answers = list(pool.map(ask, WORDS))
    wall_s = time.monotonic() - began
    records = [
        json.loads(line)
        for line in run_cli(
            "logs", "--json", "-n", "16", env={"WEIGHBRIDGE_HOME": str(home)}
        ).stdout.splitlines()
    ]
    busy_s = [float(r["cost_basis"].split("local compute: ")[1].split(" s ")[0]) for r in records]
    assert len(busy_s) == 16 and 0 < sum(busy_s) <= wall_s  # each is charged its share of the machine
    for word, text, completion_tokens in answers:
        assert word in text, (word, text)
        assert not [other for other in WORDS if other != word and other in text], (word, text)
        assert 0 < completion_tokens <= 12
    deadline = time.monotonic() + 5  # the supervisor writes its state twice a second
    while (engines := running_engines(home))[0].served < 16 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(engines) == 1 and engines[0].slots == 16 and engines[0].served >= 16
    listed = run_cli("ps", env={"WEIGHBRIDGE_HOME": str(home)})
    assert "smollm2-135m" in listed.stdout and "16 x 1024" in listed.stdout


def test_stream_stop_and_json_through_the_engine(gateway: tuple[str, Path]) -> None:
    with sdk(gateway[0]) as client:
        stream_stop_and_json(client)


def test_a_shared_system_prompt_is_computed_once(gateway: tuple[str, Path]) -> None:
    system = "You answer questions about weighbridges, the scales that weigh lorries. " * 25
    with sdk(gateway[0]) as client:
        first, second = (
            client.chat.completions.create(
                model="smollm2-135m",
                messages=[{"role": "system", "content": system}, {"role": "user", "content": question}],
                max_tokens=4,
                temperature=0,
            ).usage
            for question in ("What is a weighbridge?", "Who calibrates one?")
        )
    assert first is not None and second is not None and first.prompt_tokens > 300
    assert first.prompt_tokens_details is not None and second.prompt_tokens_details is not None
    # the second request's prompt shares all but its question with the first: the engine's
    # prompt cache held it, and the gateway reports that as OpenAI does
    assert second.prompt_tokens_details.cached_tokens >= first.prompt_tokens - 20
    with anthropic.Anthropic(base_url=gateway[0], api_key="unused", max_retries=0) as claude:
        third = claude.messages.create(
            model="smollm2-135m",
            system=system,
            messages=[{"role": "user", "content": "Where is one found?"}],
            max_tokens=4,
        ).usage
    assert third.cache_read_input_tokens is not None  # and as Anthropic does: apart from fresh input
    assert third.cache_read_input_tokens >= first.prompt_tokens - 20 and third.input_tokens < 30


def stream_stop_and_json(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="smollm2-135m",
            messages=[{"role": "user", "content": "Count from 1 to 20, separated by commas."}],
            stream=True,
            stream_options={"include_usage": True},
            stop=["7"],
            temperature=0,
            max_tokens=80,
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "5" in text and "7" not in text
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    reply = client.chat.completions.create(
        model="smollm2-135m",
        messages=[{"role": "user", "content": "Give the name of a famous scientist as JSON."}],
        response_format={
            "type": "json_schema",
            "json_schema": {
                "name": "scientist",
                "schema": {
                    "type": "object",
                    "properties": {"name": {"type": "string", "maxLength": 30}},
                    "required": ["name"],
                    "additionalProperties": False,
                },
            },
        },
        max_tokens=60,
        temperature=0,
    )
    assert list(json.loads(reply.choices[0].message.content or "")) == ["name"]


def test_a_killed_engine_ends_the_stream_with_an_error_and_restarts(gateway: tuple[str, Path]) -> None:
    base, home = gateway
    with httpx.stream(
        "POST",
        base + "/v1/chat/completions",
        json={
            "model": "smollm2-135m",
            "messages": [{"role": "user", "content": "Write a very long story about the sea."}],
            "stream": True,
            "max_tokens": 900,
            "temperature": 0,
        },
        timeout=120,
    ) as response:
        lines = response.iter_lines()
        for _ in range(5):
            next(lines)
        (pid,) = engine_pids(home)
        os.kill(pid, signal.SIGKILL)
        rest = list(lines)
    events = [line for line in rest if line.startswith("data: ")]
    assert "data: [DONE]" not in events
    assert "error" in json.loads(events[-1].removeprefix("data: "))
    logged = json.loads(run_cli("logs", "--json", "-n", "1", env={"WEIGHBRIDGE_HOME": str(home)}).stdout)
    assert logged["status"] == "incomplete"
    with sdk(base) as client:
        answer = client.chat.completions.create(
            model="smollm2-135m", messages=[{"role": "user", "content": "What is the capital of France?"}]
        )
    assert "Paris" in (answer.choices[0].message.content or "")
    (engine,) = running_engines(home)
    assert engine.pid != pid and engine.restarts >= 1


def test_a_disconnect_frees_the_slot_at_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with serving(home, config=ENGINE_CONFIG.format(slots=1), engines=True) as base, sdk(base) as client:
        abandoned = client.chat.completions.create(
            model="smollm2-135m",
            messages=[{"role": "user", "content": "Write a very long story about the sea."}],
            stream=True,
            max_tokens=1000,
            temperature=0,
        )
        for _ in zip(range(3), abandoned, strict=False):
            pass
        abandoned.close()  # the caller hangs up after three chunks
        started = time.monotonic()
        answer = client.chat.completions.create(
            model="smollm2-135m", messages=[{"role": "user", "content": "Say hi."}], max_tokens=5
        )
        waited = time.monotonic() - started
    assert answer.choices[0].message.content
    # 1,000 tokens at this machine's speed take tens of seconds; a freed slot answers in about one
    assert waited < 8, f"the next request waited {waited:.1f} s: the abandoned one kept its slot"


def test_no_orphan_engine_after_the_parent_is_killed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(ENGINE_CONFIG.format(slots=2))
    port = free_port()
    gateway = subprocess.Popen(
        [WEIGHBRIDGE, "serve", "--port", str(port), "--preload", "smollm2-135m"],
        env=dict(os.environ, WEIGHBRIDGE_HOME=str(home)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", gateway)
        (pid,) = engine_pids(home)
        gateway.kill()
        gateway.wait()
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(pid), "the engine outlived weighbridge"
    finally:
        gateway.kill()
        gateway.wait()
        if gateway.stderr is not None:
            gateway.stderr.close()


def test_a_changed_weight_file_is_refused_before_the_engine_starts(
    tmp_path: Path, embedded_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    weights = tmp_path / "mine.gguf"
    weights.write_bytes(embedded_path.read_bytes())
    lock = tmp_path / "weighbridge.lock"
    env = {"WEIGHBRIDGE_HOME": str(home), "WEIGHBRIDGE_LOCK": str(lock)}
    config = ENGINE_CONFIG.format(slots=1) + f'\n[models.mine]\nfile = "{weights}"\n'
    home.mkdir()
    (home / "config.toml").write_text(config)
    assert run_cli("pin", "-m", "mine", env=env).returncode == 0
    with weights.open("r+b") as f:
        f.seek(-4096, os.SEEK_END)
        f.write(b"\0" * 4096)
    monkeypatch.setenv("WEIGHBRIDGE_LOCK", str(lock))
    with serving(home, engines=True) as base:
        reply = httpx.post(
            base + "/v1/chat/completions",
            json={"model": "mine", "messages": [{"role": "user", "content": "Hi"}]},
            timeout=60,
        )
        assert reply.status_code == 503
        assert "weighbridge.lock" in reply.json()["error"]["message"]
        assert engine_pids(home) == []


def test_a_max_tokens_past_the_context_is_refused_before_an_engine_starts(tmp_path: Path) -> None:
    """The same 400 as in-process (where the check once was alone): a request that asks for
    more than the model's whole context never reaches, or starts, an engine."""
    home = tmp_path / "home"
    with serving(home, config=ENGINE_CONFIG.format(slots=1), engines=True) as base:
        for max_tokens in (8193, 2**70):
            reply = httpx.post(
                base + "/v1/chat/completions",
                json={
                    "model": "smollm2-135m",
                    "messages": [{"role": "user", "content": "Hi"}],
                    "max_tokens": max_tokens,
                },
                timeout=30,
            )
            assert reply.status_code == 400, reply.text
            assert "whole context here (8192 tokens)" in reply.json()["error"]["message"]
        assert engine_pids(home) == []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"  # a zombie is dead already
    except FileNotFoundError:
        return False
