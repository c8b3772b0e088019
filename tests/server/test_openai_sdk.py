"""The official openai SDK, unmodified, against ``weighbridge serve`` on the embedded model."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from tests.support.cli import run_cli
from tests.support.gateway import running_gateway

MASTER = "wb-master-test-key-0123456789"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_gateway(tmp_path_factory.mktemp("gw")) as base:
        yield base


@pytest.fixture
def sdk(gateway: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway + "/v1", api_key="unused-without-master-key", max_retries=0)


def test_chat_completion(sdk: openai.OpenAI) -> None:
    raw = sdk.chat.completions.with_raw_response.create(
        model="smollm2-135m", messages=[{"role": "user", "content": "What is the capital of France?"}]
    )
    completion = raw.parse()
    assert "Paris" in (completion.choices[0].message.content or "")
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens > 0
    assert completion.model == "smollm2-135m"
    assert raw.headers["x-weighbridge-provider"] == "llamacpp"


def test_streaming_with_usage(sdk: openai.OpenAI) -> None:
    stream = sdk.chat.completions.create(
        model="smollm2-135m",
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Paris" in text
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_models_lists_what_runs(sdk: openai.OpenAI) -> None:
    ids = [m.id for m in sdk.models.list()]
    assert "smollm2-135m" in ids and "gpt-5" not in ids  # no OpenAI key on this host


def test_client_mistakes_raise_the_sdks_own_errors(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    assert "no-such-model" in missing.value.message
    with pytest.raises(openai.BadRequestError) as bad:
        sdk.chat.completions.create(
            model="smollm2-135m", messages=[{"role": "user", "content": "hi"}], temperature=9
        )
    assert "temperature" in bad.value.message
    with pytest.raises(openai.BadRequestError):
        sdk.chat.completions.create(model="smollm2-135m", messages=[])
    with pytest.raises(openai.BadRequestError):
        sdk.chat.completions.create(model="smollm2-135m", messages=[{"role": "user", "content": "hi"}], n=3)


def test_an_unconfigured_closed_model_is_unavailable_not_a_crash(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        sdk.chat.completions.create(model="gpt-5", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 503 and "OPENAI_API_KEY" in caught.value.message


def test_malformed_body_is_a_400_in_openai_shape(gateway: str) -> None:
    reply = httpx.post(
        gateway + "/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert reply.status_code == 400
    assert reply.json()["error"]["type"] == "invalid_request_error"
    big = httpx.post(gateway + "/v1/chat/completions", content=b" " * (17 * 1024 * 1024))
    assert big.status_code == 413


def test_master_key_is_required_when_set(home: Path) -> None:
    with running_gateway(home, master_key=MASTER) as base:
        wrong = openai.OpenAI(base_url=base + "/v1", api_key="not-the-key", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as refused:
            wrong.models.list()
        assert MASTER not in str(refused.value.body)
        right = openai.OpenAI(base_url=base + "/v1", api_key=MASTER, max_retries=0)
        assert any(m.id == "smollm2-135m" for m in right.models.list())
        assert httpx.get(base + "/health").status_code == 200


def test_refuses_to_bind_beyond_loopback_without_a_key() -> None:
    result = run_cli("serve", "--host", "0.0.0.0", "--port", "1")
    assert result.returncode == 2 and "WEIGHBRIDGE_MASTER_KEY" in result.stderr


def test_metrics_count_what_the_log_holds(gateway: str, sdk: openai.OpenAI) -> None:
    sdk.chat.completions.create(
        model="smollm2-135m", messages=[{"role": "user", "content": "hi"}], max_tokens=3
    )
    text = httpx.get(gateway + "/metrics").text
    ok = [
        line
        for line in text.splitlines()
        if line.startswith("weighbridge_requests_total{") and 'status="ok"' in line
    ]
    assert ok and float(ok[0].rsplit(" ", 1)[1]) >= 1
    assert 'weighbridge_tokens_total{direction="out"' in text or "weighbridge_tokens_total{" in text
    assert "weighbridge_request_latency_seconds_bucket" in text


def test_simultaneous_requests_to_one_local_model_get_their_own_answers(sdk: openai.OpenAI) -> None:
    words = ("apple", "river", "copper", "violet", "falcon", "marble")

    def ask(word: str) -> str:
        reply = sdk.chat.completions.create(
            model="smollm2-135m",
            messages=[{"role": "user", "content": f"Repeat exactly this word: {word}"}],
            max_tokens=12,
        )
        return (reply.choices[0].message.content or "").lower()

    # Batched decoding is not bit-identical to one request at a time (other kernels, other
    # rounding), so greedy answers may be worded differently; what must hold is that each
    # answer is its own request's and carries nothing of the others.
    with ThreadPoolExecutor(len(words)) as pool:
        together = list(pool.map(ask, words))
    for word, answer in zip(words, together, strict=True):
        assert word in answer and not [w for w in words if w != word and w in answer], (word, answer)
