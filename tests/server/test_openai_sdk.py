"""The official openai SDK, unmodified, against the gateway on the embedded model: the gateway
runs in this process (its ASGI app is the SDK's transport), as ``weighbridge serve`` builds it."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest
from starlette.testclient import TestClient

from tests.support.cli import invoke
from tests.support.gateway import gateway_app

MASTER = "wb-master-test-key-0123456789"


def sdk_for(http: TestClient, api_key: str = "unused-without-master-key") -> openai.OpenAI:
    """The SDK on the in-process gateway; not closed by the tests, since closing it would close
    the shared ``http`` (the SDK holds nothing else)."""
    return openai.OpenAI(
        base_url=str(http.base_url) + "/v1", api_key=api_key, http_client=http, max_retries=0
    )


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with gateway_app(tmp_path_factory.mktemp("gw")) as http:
        yield http


@pytest.fixture
def sdk(gateway: TestClient) -> openai.OpenAI:
    return sdk_for(gateway)


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


def test_malformed_body_is_a_400_in_openai_shape(gateway: TestClient) -> None:
    reply = gateway.post(
        "/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert reply.status_code == 400
    assert reply.json()["error"]["type"] == "invalid_request_error"
    big = gateway.post("/v1/chat/completions", content=b" " * (17 * 1024 * 1024))
    assert big.status_code == 413


def test_master_key_is_required_when_set(home: Path) -> None:
    with gateway_app(home, master_key=MASTER) as http:
        wrong = sdk_for(http, api_key="not-the-key")
        with pytest.raises(openai.AuthenticationError) as refused:
            wrong.models.list()
        assert MASTER not in str(refused.value.body)
        right = sdk_for(http, api_key=MASTER)
        assert any(m.id == "smollm2-135m" for m in right.models.list())
        assert http.get("/health").status_code == 200


def test_refuses_to_bind_beyond_loopback_without_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """``serve`` refuses before it binds; were it to go on, it would fail here (a traceback, not
    exit code 2) instead of serving forever in this process."""

    def bind(*args: object, **kwargs: object) -> None:
        raise AssertionError("serve went on to bind without a key")

    monkeypatch.setattr("uvicorn.run", bind)
    monkeypatch.delenv("WEIGHBRIDGE_MASTER_KEY", raising=False)
    result = invoke("serve", "--host", "0.0.0.0", "--port", "1")
    assert result.returncode == 2 and "WEIGHBRIDGE_MASTER_KEY" in result.stderr


def test_metrics_count_what_the_log_holds(gateway: TestClient, sdk: openai.OpenAI) -> None:
    sdk.chat.completions.create(
        model="smollm2-135m", messages=[{"role": "user", "content": "hi"}], max_tokens=3
    )
    text = gateway.get("/metrics").text
    ok = [
        line
        for line in text.splitlines()
        if line.startswith("weighbridge_requests_total{") and 'status="ok"' in line
    ]
    assert ok and float(ok[0].rsplit(" ", 1)[1]) >= 1
    assert 'weighbridge_tokens_total{direction="out"' in text or "weighbridge_tokens_total{" in text
    assert "weighbridge_request_latency_seconds_bucket" in text


@pytest.fixture
def engine_sdk(home: Path) -> Iterator[openai.OpenAI]:
    """The SDK on a gateway whose local chats run on the engine ``serve`` uses by default,
    where simultaneous requests are decoded together."""
    with gateway_app(home, engines=True) as http:
        yield sdk_for(http)


def test_simultaneous_requests_to_one_local_model_get_their_own_answers(engine_sdk: openai.OpenAI) -> None:
    words = ("apple", "river", "copper", "violet", "falcon", "marble")

    def ask(word: str) -> str:
        reply = engine_sdk.chat.completions.create(
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
