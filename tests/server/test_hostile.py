"""Hostile and malformed requests: every one answered in JSON in the caller's protocol with a
4xx, never a 500 and never a traceback in the gateway's log. The gateway runs in this process
under uvicorn on a loopback port, as ``serve`` runs it: a failure after the answer has begun
is then logged by uvicorn, where the log check sees it."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterator

import httpx
import pytest

from tests.support.gateway import serving

JSON_ROUTES = [
    ("/v1/chat/completions", "openai"),
    ("/v1/messages", "anthropic"),
    ("/v1/completions", "openai"),
    ("/v1/embeddings", "openai"),
    ("/tokenize", "openai"),
    ("/detokenize", "openai"),
    ("/arena/pair", "openai"),
    ("/arena/vote", "openai"),
]
NESTED = b'{"model": "smollm2-135m", "messages": [' * 3000  # ~100 KB, the shape


class GatewayLog(logging.Handler):
    """What the gateway logs while it runs (its own loggers, asyncio's, uvicorn's), formatted
    as ``serve`` writes it to stderr: an exception with its full traceback."""

    LOGGERS = ("", "uvicorn")  # uvicorn's loggers do not propagate to the root

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, GatewayLog]]:
    log = GatewayLog()
    with serving(tmp_path_factory.mktemp("hostile-home")) as base:
        for name in GatewayLog.LOGGERS:  # after start-up, which configures uvicorn's logging
            logging.getLogger(name).addHandler(log)
        try:
            yield base, log
        finally:
            for name in GatewayLog.LOGGERS:
                logging.getLogger(name).removeHandler(log)


def assert_error_shape(response: httpx.Response, protocol: str) -> None:
    body = response.json()
    if protocol == "anthropic":
        assert body["type"] == "error" and body["error"]["message"], body
    else:
        assert body["error"]["message"] and body["error"]["type"], body


@pytest.mark.parametrize(("path", "protocol"), JSON_ROUTES)
def test_deeply_nested_body_is_a_400_in_the_callers_protocol(
    gateway: tuple[str, GatewayLog], path: str, protocol: str
) -> None:
    base, _ = gateway
    response = httpx.post(
        base + path, content=NESTED, headers={"content-type": "application/json"}, timeout=30
    )
    assert response.status_code == 400, response.text
    assert_error_shape(response, protocol)
    assert "nests" in response.text


def test_nesting_below_the_decoders_limit_is_refused_too(gateway: tuple[str, GatewayLog]) -> None:
    """Deep enough to pass json.loads but to overflow whatever walks the body next."""
    base, _ = gateway
    deep: object = "x"
    for _ in range(600):
        deep = [deep]
    body = {"model": "smollm2-135m", "messages": [{"role": "user", "content": deep}]}
    response = httpx.post(base + "/v1/chat/completions", json=body, timeout=30)
    assert response.status_code == 400, response.text
    assert_error_shape(response, "openai")


@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "protocol"),
    [
        ("GET", "/v1/chat/completions", {}, 405, "openai"),
        ("PUT", "/v1/completions", {}, 405, "openai"),
        ("GET", "/v1/messages", {}, 405, "anthropic"),
        ("POST", "/v1/nope", {}, 404, "openai"),
        ("GET", "/v1/messages/batches", {}, 404, "anthropic"),
        ("POST", "/v1/complete", {"anthropic-version": "2023-06-01"}, 404, "anthropic"),
        ("DELETE", "/v1/models", {}, 405, "openai"),
        ("GET", "/static/nothing-here.js", {}, 404, "openai"),
    ],
)
def test_wrong_method_and_unknown_path_answer_json(
    gateway: tuple[str, GatewayLog],
    method: str,
    path: str,
    headers: dict[str, str],
    status: int,
    protocol: str,
) -> None:
    base, _ = gateway
    response = httpx.request(method, base + path, headers=headers, timeout=10)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    assert_error_shape(response, protocol)
    if status == 405:
        assert "POST" in response.headers["allow"] or "GET" in response.headers["allow"]


#: "x" * 40_000 is 10,000 tokens, over the context: refused before any compute (a prompt
#: just under the context would be answered, after a minute of prefill on 2 cores).
HOSTILE_VALUES: list[object] = [
    None, -1, 0, 2**70, -(2**70), 1e308, True, "", "x" * 40_000, [], {}, [[[[[]]]]], {"a": {"b": {}}},
    "\ud800", "nul\u0000byte", "\u202eevil", "<script>alert(1)</script>", "../../etc/passwd",
    "%s%s%n", [None], [1, "two", {"3": []}], {"role": "system"}, "NaN",
]  # fmt: skip
RAW_BODIES = [
    b"", b"{", b"}", b"[]", b"null", b"true", b"1", b'"text"', b"\xff\xfe\x00", b"{'single': 1}",
    b'{"model": NaN}', b'{"model": Infinity, "messages": []}', b'{"a":' * 40_000,
    b"[" * 200_000, b'{"model": "x", "messages": [{"role": "user", "content": "hi"}]' + b" " * 5,
]  # fmt: skip
BASES = {
    "/v1/chat/completions": {"model": "smollm2-135m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1},
    "/v1/messages": {"model": "smollm2-135m", "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]},
    "/v1/completions": {"model": "smollm2-135m", "prompt": "hi", "max_tokens": 1},
    "/v1/embeddings": {"model": "smollm2-135m", "input": "hi"},
    "/tokenize": {"model": "smollm2-135m", "prompt": "hi"},
    "/detokenize": {"model": "smollm2-135m", "tokens": [1, 2]},
    "/arena/vote": {"pair": "x", "outcome": "a", "prompt": "hi"},
}  # fmt: skip


def mutate(body: dict[str, object], rng: random.Random) -> dict[str, object]:
    """One field of ``body`` (top level or in the first message) replaced by a hostile value,
    or a stray field added."""
    out = json.loads(json.dumps(body))
    value = rng.choice(HOSTILE_VALUES)
    target: dict[str, object] = out
    messages = out.get("messages")
    if isinstance(messages, list) and rng.random() < 0.4:
        target = messages[0]
    keys = [*target, "temperature", "stream", "tools", "n", "stop", "logprobs", "extra_field"]
    target[rng.choice(keys)] = value
    return out


@pytest.mark.parametrize(
    ("path", "body", "needle"),
    [
        ("/v1/embeddings", {"model": "smollm2-135m", "input": ""}, "must not be empty"),
        ("/v1/embeddings", {"model": "smollm2-135m", "input": ["fine", ""]}, "must not be empty"),
        ("/v1/embeddings", {"model": "smollm2-135m", "input": [[]]}, "must not be empty"),
        ("/v1/completions", {"model": "smollm2-135m", "prompt": "\ud800"}, "surrogate"),
        ("/v1/completions", {"model": "smollm2-135m", "prompt": "hi", "max_tokens": 2**70}, "whole context"),
        (
            "/v1/chat/completions",
            {"model": "smollm2-135m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2**70},
            "max_tokens",
        ),
        (
            "/v1/messages",
            {"model": "smollm2-135m", "max_tokens": 1, "messages": [{"role": "user", "content": "\udfff"}]},
            "surrogate",
        ),
    ],
)
def test_inputs_that_once_reached_the_model_are_refused_first(
    gateway: tuple[str, GatewayLog], path: str, body: dict[str, object], needle: str
) -> None:
    """Found by the corpus below: an empty text to embed (llama_decode failed: a 502), an
    unpaired surrogate (no encoder takes it: a 500), and a max_tokens past any context (it held
    the in-process model's one worker, and every text request queued behind it, for a minute)."""
    base, _ = gateway
    response = httpx.post(base + path, content=json.dumps(body), headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert needle in response.text
    assert_error_shape(response, "anthropic" if path == "/v1/messages" else "openai")


@pytest.mark.long(8)
def test_five_hundred_hostile_requests_never_get_a_500(
    gateway: tuple[str, GatewayLog], capfd: pytest.CaptureFixture[str]
) -> None:
    """A seeded corpus: mutated valid bodies on every JSON route, plus raw bodies that are not
    JSON or barely are. Each answer is a JSON error in the route's protocol (or a real answer
    where the mutation left the request valid), and the gateway's log (with whatever this
    process wrote to stderr meanwhile) has no traceback."""
    base, log = gateway
    rng = random.Random(20)
    statuses: dict[int, int] = {}
    with httpx.Client(base_url=base, timeout=60) as client:
        for i in range(500):
            path = rng.choice(list(BASES))
            protocol = "anthropic" if path == "/v1/messages" else "openai"
            content = rng.choice(RAW_BODIES) if i % 5 == 0 else json.dumps(mutate(BASES[path], rng)).encode()
            response = client.post(path, content=content, headers={"content-type": "application/json"})
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            assert response.status_code < 500, (path, content[:300], response.text)
            if response.status_code >= 400:
                assert_error_shape(response, protocol)
    assert statuses.get(400, 0) > 150, statuses
    said = log.text() + capfd.readouterr().err
    assert "Traceback" not in said, said[-3000:]
