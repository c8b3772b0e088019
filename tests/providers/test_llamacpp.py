"""The main job on the embedded model: a real llama.cpp answer through every way in."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

import weighbridge
from tests.support.cli import invoke, run_cli
from weighbridge.providers.llamacpp import _deliver, _Job
from weighbridge.types import ChatRequest

QUESTION = "What is the capital of France?"


def test_library_chat_answers_and_logs(home: Path) -> None:
    response = weighbridge.chat(QUESTION, temperature=0)
    assert "Paris" in response.content
    assert response.model == "smollm2-135m" and response.provider == "llamacpp"
    assert response.usage.prompt_tokens > 0 and response.usage.completion_tokens > 0
    assert response.finish_reason == "stop"
    assert response.cost_usd is not None and response.cost_usd > 0  # local compute is not free
    assert len(response.weight_sha256 or "") == 64

    [record] = weighbridge.default_client().store.recent()
    assert record.status == "ok" and record.model == "smollm2-135m"
    assert record.weight_sha256 == response.weight_sha256
    assert record.completion_tokens == response.usage.completion_tokens
    assert "Paris" in (record.response or "")


def test_stream_yields_pieces_that_add_up(home: Path) -> None:
    stream = weighbridge.stream(QUESTION, model="smollm2-135m", temperature=0)
    pieces = [chunk.text for chunk in stream]
    assert len([p for p in pieces if p]) > 1, "a stream arrives in pieces"
    assert stream.response is not None
    assert "".join(pieces) == stream.response.content
    assert "Paris" in stream.response.content
    assert stream.response.ttft_s is not None and stream.response.ttft_s < stream.response.latency_s


def test_async_matches_sync(home: Path) -> None:
    sync = weighbridge.chat(QUESTION, temperature=0, max_tokens=12)

    async def both() -> tuple[str, str]:
        whole = await weighbridge.achat(QUESTION, temperature=0, max_tokens=12)
        streamed = await weighbridge.astream(QUESTION, temperature=0, max_tokens=12).text()
        return whole.content, streamed

    whole, streamed = asyncio.run(both())
    assert sync.content == whole == streamed


def test_max_tokens_stop_and_usage(home: Path) -> None:
    short = weighbridge.chat("Count from 1 to 20, separated by commas.", temperature=0, max_tokens=5)
    assert short.finish_reason == "length" and short.usage.completion_tokens == 5
    cut = weighbridge.chat("Count from 1 to 20, separated by commas.", temperature=0, stop=["5"])
    assert "5" not in cut.content and cut.finish_reason == "stop"


def test_json_mode_gives_json(home: Path) -> None:
    response = weighbridge.chat(
        "Describe Paris as JSON with keys name and country.",
        temperature=0,
        max_tokens=60,
        response_format={"type": "json_object"},
    )
    if response.finish_reason == "stop":
        assert isinstance(json.loads(response.content), dict)
    else:  # cut by max_tokens: still JSON-shaped from its first character
        assert response.content.lstrip().startswith("{")


def test_cli_run_streams_answer_with_figures(home: Path) -> None:
    result = invoke("run", "--temperature", "0", QUESTION)
    assert result.returncode == 0, result.stderr
    assert "Paris" in result.stdout
    assert "tokens" in result.stderr and "$" in result.stderr and "smollm2-135m" in result.stderr

    logs = invoke("logs", "--json")
    record = json.loads(logs.stdout.splitlines()[0])
    assert record["source"] == "cli" and record["status"] == "ok" and "Paris" in record["response"]


def test_cli_reads_prompt_from_stdin(home: Path) -> None:
    """The console script in a process of its own, as ``echo ... | weighbridge run -q`` runs:
    a real pipe for stdin, and a stderr that is the file descriptor (where llama.cpp's C code
    would write), which must stay empty."""
    result = run_cli("run", "-q", "-t", "0", input=QUESTION)
    assert result.returncode == 0, result.stderr
    assert "Paris" in result.stdout and result.stderr == ""


def test_embeddings_read_the_whole_text_and_refuse_one_past_their_context(home: Path) -> None:
    """llama-cpp-python cuts each text at its batch size unless told not to: two long texts
    that differ only at the end got the same vector, and a text past the context got one."""
    from weighbridge.client import Client
    from weighbridge.errors import InvalidRequestError
    from weighbridge.types import EmbeddingRequest

    opening = "The quick brown fox jumps over the lazy dog. " * 120  # about 1,200 tokens
    endings = ["The answer is Paris.", "Quantum chromodynamics binds quarks with gluons, always."]
    with Client() as client:
        vectors = client.embed(EmbeddingRequest(model="smollm2-135m", input=[opening + e for e in endings]))
        first, second = vectors.vectors
        assert sum(a * b for a, b in zip(first, second, strict=True)) < 0.999999
        assert vectors.usage.prompt_tokens > 2 * 1200
        with pytest.raises(InvalidRequestError, match="context here is 2048"):
            client.embed(EmbeddingRequest(model="smollm2-135m", input=["x" * 40_000]))


def test_worker_survives_a_caller_whose_loop_has_closed() -> None:
    """A caller that returns (or gives up) closes its event loop while the model's worker
    thread may still be handing it pieces; that must stop the job, not kill the thread (it
    once did, and every later call to the model hung)."""
    loop = asyncio.new_event_loop()
    inbox: asyncio.Queue[object] = asyncio.Queue()
    job = _Job(ChatRequest(model="m", messages="hi"), True, lambda item: None)
    loop.close()
    _deliver(loop, inbox, "piece", job)  # must not raise
    assert job.cancelled.is_set()
