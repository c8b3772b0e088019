"""The OpenAI-compatible provider's failure paths, on a loopback server replaying OpenAI's
documented wire format: error bodies, 429 with Retry-After, and a stream cut mid-way."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.openai_samples import (
    BAD_REQUEST,
    COMPLETION,
    KEY,
    MODEL,
    RATE_LIMITED,
    STREAM,
    UPSTREAM,
)
from tests.support.replay import ReplayServer, assert_key_not_kept, client_for, sse
from weighbridge.client import Client
from weighbridge.errors import ProviderError, StreamInterruptedError


@pytest.fixture
def client(upstream: ReplayServer, home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with client_for(upstream, home, "openai", MODEL, UPSTREAM) as weighbridge:
        yield weighbridge


def test_rate_limit_waits_retry_after_then_succeeds(client: Client, upstream: ReplayServer) -> None:
    upstream.reply_json(RATE_LIMITED, status=429, headers={"Retry-After": "1"})
    upstream.reply_json(COMPLETION)
    started = time.monotonic()
    response = client.chat("Hello!", model=MODEL, max_tokens=20)
    assert time.monotonic() - started >= 0.95
    assert response.content == "Hello! How can I assist you today?"
    assert response.upstream_model == "gpt-4o-mini-2024-07-18"
    assert len(upstream.requests) == 2
    sent = upstream.requests[0]
    assert sent.path == "/chat/completions" and sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.body["max_completion_tokens"] == 20  # OpenAI's reasoning models refuse max_tokens


def test_bad_request_is_not_retried_and_keeps_the_message(client: Client, upstream: ReplayServer) -> None:
    upstream.reply_json(BAD_REQUEST, status=400)
    with pytest.raises(ProviderError) as caught:
        client.chat("Hello!", model=MODEL, temperature=0.2)
    assert caught.value.status == 400
    assert caught.value.error_type == "invalid_request_error"
    assert "does not support 0.2" in caught.value.provider_message
    assert len(upstream.requests) == 1
    assert client.store.recent(1)[0].status == "error"
    assert_key_not_kept(client, KEY, caught.value)


def test_stream_with_usage(client: Client, upstream: ReplayServer) -> None:
    upstream.reply_sse([sse(*STREAM)])
    stream = client.stream("Hello!", model=MODEL)
    assert [c.text for c in stream if c.text] == ["Hello", " there"]
    assert stream.response is not None
    assert stream.response.usage.completion_tokens == 2 and stream.response.finish_reason == "stop"
    assert upstream.requests[0].body["stream_options"] == {"include_usage": True}


def test_stream_cut_after_output_is_incomplete_not_retried(client: Client, upstream: ReplayServer) -> None:
    upstream.reply_cut([sse(*STREAM[:2])])
    upstream.reply_sse([sse(*STREAM)])
    with pytest.raises(StreamInterruptedError):
        for _ in client.stream("Hello!", model=MODEL):
            pass
    assert len(upstream.requests) == 1
    record = client.store.recent(1)[0]
    assert record.status == "incomplete" and record.response == "Hello"


def test_stream_refused_before_output_is_retried(client: Client, upstream: ReplayServer) -> None:
    upstream.reply_json(
        {"error": {"message": "The upstream is overloaded", "type": "server_error"}}, status=503
    )
    upstream.reply_sse([sse(*STREAM)])
    stream = client.stream("Hello!", model=MODEL)
    assert "".join(c.text for c in stream) == "Hello there"
    assert len(upstream.requests) == 2
