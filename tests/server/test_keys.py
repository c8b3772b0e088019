"""Virtual keys at the gateway: allowed models, rate limits, and budgets that hold under
simultaneous requests, seen through the SDKs' own exceptions. The gateway and the CLI that
makes the keys both run in this process, on the test's data directory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import openai
import pytest
from starlette.testclient import TestClient

from tests.support.cli import invoke
from tests.support.gateway import gateway_app, priced_upstream
from tests.support.openai_samples import STREAM
from tests.support.replay import ReplayServer, sse

MASTER = "wb-master-for-key-tests-0123456789"


@pytest.fixture
def gateway(upstream: ReplayServer, home: Path) -> Iterator[TestClient]:
    config = priced_upstream(upstream.url, "priced", "priced-model")
    with gateway_app(home, master_key=MASTER, config=config) as http:
        yield http


def new_key(*args: str) -> str:
    made = invoke("keys", "create", *args)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def sdk_for(http: TestClient, key: str) -> openai.OpenAI:
    """The SDK on the in-process gateway; not closed, since that would close ``http``."""
    return openai.OpenAI(base_url=str(http.base_url) + "/v1", api_key=key, http_client=http, max_retries=0)


def test_key_sees_and_calls_only_its_models(gateway: TestClient) -> None:
    key = new_key("--name", "local-only", "--models", "smollm2-135m")
    sdk = sdk_for(gateway, key)
    assert [m.id for m in sdk.models.list()] == ["smollm2-135m"]
    answer = sdk.chat.completions.create(
        model="smollm2-135m", messages=[{"role": "user", "content": "What is the capital of France?"}]
    )
    assert "Paris" in (answer.choices[0].message.content or "")
    with pytest.raises(openai.PermissionDeniedError):
        sdk.chat.completions.create(model="priced-model", messages=[{"role": "user", "content": "hi"}])
    record = json.loads(invoke("logs", "--json", "-n", "1").stdout.splitlines()[0])
    assert record["key_name"] == "local-only"
    assert key not in json.dumps(record)


def test_rate_limit_per_key(gateway: TestClient) -> None:
    key = new_key("--name", "slow", "--rpm", "2")
    sdk = sdk_for(gateway, key)
    for _ in range(2):
        sdk.chat.completions.create(
            model="smollm2-135m", messages=[{"role": "user", "content": "hi"}], max_tokens=2
        )
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.chat.completions.create(
            model="smollm2-135m", messages=[{"role": "user", "content": "hi"}], max_tokens=2
        )
    assert int(caught.value.response.headers["retry-after"]) > 0


def test_revoked_key_is_refused(gateway: TestClient) -> None:
    key = new_key("--name", "gone")
    assert invoke("keys", "revoke", "gone").returncode == 0
    sdk = sdk_for(gateway, key)
    with pytest.raises(openai.AuthenticationError):
        sdk.models.list()


def simultaneous_streams(
    gateway: TestClient, upstream: ReplayServer, model: str, keys: list[str]
) -> list[int]:
    """Five streamed requests at once, each of which may cost up to ~$0.0006 (1,000 output
    tokens at $0.60/M), taking the keys in turn; the upstream has answers for two. The
    in-process gateway serves them together on its one event loop, as ``serve`` does."""
    for _ in range(2):
        upstream.reply_sse([sse(*STREAM)[i : i + 40] for i in range(0, len(sse(*STREAM)), 40)], delay_s=0.1)
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 1000,
        "stream": True,
    }

    def call(n: int) -> int:
        headers = {"Authorization": f"Bearer {keys[n % len(keys)]}"}
        with gateway.stream("POST", "/v1/chat/completions", json=body, headers=headers) as reply:
            reply.read()
            if reply.status_code == 429:
                assert reply.json()["error"]["code"] == "insufficient_quota"
            return reply.status_code

    with ThreadPoolExecutor(5) as pool:
        return sorted(pool.map(call, range(5)))


def test_budget_holds_under_simultaneous_requests(gateway: TestClient, upstream: ReplayServer) -> None:
    key = new_key("--name", "capped", "--budget-usd", "0.0013")  # holds two worst cases
    statuses = simultaneous_streams(gateway, upstream, "priced-model", [key])
    assert statuses == [200, 200, 429, 429, 429]
    assert len(upstream.requests) == 2  # the refused ones never reached the upstream
    listed = invoke("keys", "list").stdout
    assert "capped" in listed


def test_a_route_budget_holds_across_keys(upstream: ReplayServer, home: Path) -> None:
    config = priced_upstream(upstream.url, "priced", "priced-model")
    config += '\n[routes.capped-route]\nbudget_usd = 0.0013\ntargets = [{ model = "priced-model" }]\n'
    with gateway_app(home, master_key=MASTER, config=config) as http:
        keys = [new_key("--name", "team-a"), new_key("--name", "team-b")]  # no budgets of their own
        assert simultaneous_streams(http, upstream, "capped-route", keys) == [200, 200, 429, 429, 429]
        assert len(upstream.requests) == 2
    report = json.loads(invoke("spend", "--by", "route", "--json").stdout)
    [route] = [b for b in report["budgets"] if b["kind"] == "route"]
    [line] = report["groups"]
    assert route["name"] == line["group"] == "capped-route"
    assert line["cost_usd"] != "0"  # the budget's float counters and the log's exact sum agree:
    assert abs(Decimal(route["spent_usd"]) - Decimal(line["cost_usd"])) < Decimal("1e-15")
    assert Decimal(route["reserved_usd"]) == 0 and route["runs_out"] not in ("never", "exhausted")


def test_wrong_key_through_the_anthropic_sdk(gateway: TestClient) -> None:
    import anthropic

    sdk = anthropic.Anthropic(
        base_url=str(gateway.base_url), api_key="wb-not-a-real-key", http_client=gateway, max_retries=0
    )
    with pytest.raises(anthropic.AuthenticationError) as caught:
        sdk.messages.create(model="smollm2-135m", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert "wb-not-a-real-key" not in str(caught.value)


def test_a_key_cannot_take_the_name_of_the_gateways_own_callers() -> None:
    for name in ("master", "local"):  # the master key's and an open gateway's records carry these
        made = invoke("keys", "create", "--name", name)
        assert made.returncode == 2 and "choose another name" in made.stderr
