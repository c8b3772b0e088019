"""The gateway in front of a failing upstream: a loopback server replaying OpenAI's wire
format, cut or refusing on cue, with the openai SDK as the gateway's client. The gateway runs
in this process on a real port, so a cut stream reaches the client as it happens."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import openai
import pytest

from tests.support.cli import invoke
from tests.support.gateway import priced_upstream, serving
from tests.support.openai_samples import RATE_LIMITED, STREAM
from tests.support.replay import ReplayServer, sse
from weighbridge.providers.retry import RetryPolicy

#: ``serve``'s retry policy (the default: as many attempts, so the upstream is asked as often),
#: with waits cut to milliseconds: the tests count attempts, not seconds of backoff.
FAST_RETRIES = replace(RetryPolicy(), base_delay_s=0.01, max_delay_s=0.01)


@pytest.fixture
def gateway(upstream: ReplayServer, home: Path) -> Iterator[str]:
    config = priced_upstream(upstream.url, "flaky", "flaky-model")
    with serving(home, config=config, retry_policy=FAST_RETRIES) as base:
        yield base


def last_record() -> dict[str, object]:
    """The gateway's newest log record (the autouse ``home`` fixture points both at one store)."""
    out = invoke("logs", "--json", "-n", "1")
    return dict(json.loads(out.stdout.splitlines()[0]))


def test_cut_mid_stream_ends_with_an_error_event_and_an_incomplete_record(
    gateway: str, upstream: ReplayServer
) -> None:
    upstream.reply_cut([sse(*STREAM[:2])])
    body = {"model": "flaky-model", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with httpx.stream("POST", gateway + "/v1/chat/completions", json=body, timeout=30) as reply:
        assert reply.status_code == 200
        events = [line for line in reply.iter_lines() if line.startswith("data: ")]
    assert json.loads(events[0][6:])["choices"][0]["delta"]["content"] == "Hello"
    assert "error" in json.loads(events[-1][6:])
    assert "data: [DONE]" not in events
    assert len(upstream.requests) == 1  # output had started: never retried

    record = last_record()
    assert record["status"] == "incomplete" and record["response"] == "Hello"
    assert record["source"] == "gateway"


def test_sdk_sees_the_cut_as_an_error(gateway: str, upstream: ReplayServer) -> None:
    upstream.reply_cut([sse(*STREAM[:2])])
    sdk = openai.OpenAI(base_url=gateway + "/v1", api_key="x", max_retries=0)
    stream = sdk.chat.completions.create(
        model="flaky-model", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


def test_upstream_rate_limit_reaches_the_caller_as_429(gateway: str, upstream: ReplayServer) -> None:
    for _ in range(4):  # the gateway's own retries give up; the caller sees the 429
        upstream.reply_json(RATE_LIMITED, status=429, headers={"Retry-After": "0"})
    sdk = openai.OpenAI(base_url=gateway + "/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.chat.completions.create(model="flaky-model", messages=[{"role": "user", "content": "hi"}])
    assert "Rate limit reached" in caught.value.message
    assert len(upstream.requests) == 4


def test_upstream_down_is_a_502(gateway: str, upstream: ReplayServer) -> None:
    for _ in range(4):
        upstream.reply_json({"error": {"message": "boom", "type": "server_error"}}, status=500)
    reply = httpx.post(
        gateway + "/v1/chat/completions",
        json={"model": "flaky-model", "messages": [{"role": "user", "content": "hi"}]},
        timeout=60,
    )
    assert reply.status_code == 502
    assert "boom" in reply.json()["error"]["message"]
