"""Text completions with log-probabilities, embeddings and the tokenizer routes, through the
gateway (in this process, its ASGI app the transport), driven by the official openai SDK (and
raw HTTP where the SDK has no method)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from starlette.testclient import TestClient

from tests.support.gateway import gateway_app
from tests.support.replay import ReplayServer
from weighbridge.client import Client
from weighbridge.config import load_settings
from weighbridge.errors import InvalidRequestError
from weighbridge.types import TextRequest


def write_config(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(text)
    return home / "config.toml"


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The gateway, and raw HTTP to it for the routes the SDK has no method for."""
    with gateway_app(tmp_path_factory.mktemp("gw")) as client:
        yield client


@pytest.fixture
def sdk(http: TestClient) -> openai.OpenAI:
    """The SDK over ``http``; not closed, since closing it would close the shared ``http``."""
    return openai.OpenAI(
        base_url=str(http.base_url) + "/v1",
        api_key="unused-without-master-key",
        http_client=http,
        max_retries=0,
    )


def continuation_logprob(sdk: openai.OpenAI, http: TestClient, context: str, continuation: str) -> float:
    """What log-likelihood evaluations compute: the continuation's tokens given the context."""
    context_tokens = http.post("/tokenize", json={"prompt": context}).json()["tokens"]
    result = sdk.completions.create(
        model="smollm2-135m", prompt=context + continuation, max_tokens=0, echo=True, logprobs=1
    )
    logprobs = result.choices[0].logprobs
    assert logprobs is not None and logprobs.token_logprobs is not None
    return sum(lp for lp in logprobs.token_logprobs[len(context_tokens) :] if lp is not None)


def test_echo_logprobs_rank_the_right_answer(sdk: openai.OpenAI, http: TestClient) -> None:
    paris = continuation_logprob(sdk, http, "The capital of France is", " Paris")
    london = continuation_logprob(sdk, http, "The capital of France is", " London")
    assert paris > london + 1.0


def test_echo_logprobs_shape(sdk: openai.OpenAI) -> None:
    result = sdk.completions.create(
        model="smollm2-135m",
        prompt="The capital of France is",
        max_tokens=1,
        echo=True,
        logprobs=2,
        temperature=0,
    )
    choice = result.choices[0]
    assert choice.text.startswith("The capital of France is")
    logprobs = choice.logprobs
    assert logprobs is not None and logprobs.tokens and logprobs.token_logprobs and logprobs.top_logprobs
    assert logprobs.text_offset is not None
    prompt_tokens = result.usage.prompt_tokens if result.usage else 0
    assert len(logprobs.tokens) == prompt_tokens + 1  # the prompt's tokens, then the one generated
    assert logprobs.token_logprobs[0] is None and logprobs.top_logprobs[0] is None
    assert all(lp is not None and lp <= 0 for lp in logprobs.token_logprobs[1:])
    generated = logprobs.tokens[-1]
    top = logprobs.top_logprobs[-1]
    assert top is not None and generated in top
    assert logprobs.token_logprobs[-1] == pytest.approx(max(top.values()))  # greedy took the best
    assert "".join(logprobs.tokens) == choice.text
    assert logprobs.text_offset == [len("".join(logprobs.tokens[:i])) for i in range(len(logprobs.tokens))]


def test_token_id_prompts_and_batches(sdk: openai.OpenAI, http: TestClient) -> None:
    ids = http.post("/tokenize", json={"prompt": "Hello there"}).json()["tokens"]
    assert http.post("/detokenize", json={"tokens": ids}).json()["prompt"].endswith("Hello there")
    result = sdk.completions.create(model="smollm2-135m", prompt=[ids, ids[:1]], max_tokens=3, temperature=0)
    assert [c.index for c in result.choices] == [0, 1]
    assert all(c.text for c in result.choices)
    assert result.usage is not None and result.usage.prompt_tokens == len(ids) + 1
    assert result.usage.completion_tokens == 6


def test_stop_and_length(sdk: openai.OpenAI) -> None:
    long = sdk.completions.create(model="smollm2-135m", prompt="1, 2, 3, 4,", max_tokens=6, temperature=0)
    assert long.choices[0].finish_reason == "length"
    assert long.usage is not None and long.usage.completion_tokens == 6
    stopped = sdk.completions.create(
        model="smollm2-135m", prompt="1, 2, 3, 4,", max_tokens=20, temperature=0, stop=["7"]
    )
    assert stopped.choices[0].finish_reason == "stop"
    assert "7" not in stopped.choices[0].text and "5" in stopped.choices[0].text


def test_tokenizer_info_names_the_special_tokens(http: TestClient) -> None:
    info = http.get("/tokenizer_info").json()
    assert info["eos_token"] == "<|im_end|>" and "im_start" in info["chat_template"]
    eos = http.post("/tokenize", json={"prompt": info["eos_token"], "add_special_tokens": False})
    assert len(eos.json()["tokens"]) == 1


def test_embeddings_in_both_encodings(sdk: openai.OpenAI, http: TestClient) -> None:
    texts = ["The cat sat on the mat.", "A cat was sitting on a mat.", "Quarterly revenue rose 4%."]
    got = sdk.embeddings.create(model="smollm2-135m", input=texts)  # the SDK asks for base64
    vectors = [item.embedding for item in got.data]
    assert [item.index for item in got.data] == [0, 1, 2]
    assert all(len(v) == 576 and math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-3) for v in vectors)
    assert got.usage.prompt_tokens > 0
    raw = http.post(
        "/v1/embeddings", json={"model": "smollm2-135m", "input": texts[0], "encoding_format": "float"}
    ).json()
    assert raw["data"][0]["embedding"] == pytest.approx(vectors[0], abs=1e-5)

    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"model": "smollm2-135m", "prompt": "Hi", "n": 2}, "n must be 1"),
        ({"model": "smollm2-135m", "prompt": "Hi", "stream": True}, "stream"),
        ({"model": "smollm2-135m", "prompt": "Hi", "suffix": "end"}, "suffix"),
        ({"model": "smollm2-135m", "prompt": []}, "prompt"),
        ({"model": "smollm2-135m", "prompt": [[1, 2], "mixed"]}, "prompt: must be a string"),
        ({"model": "smollm2-135m", "prompt": "Hi", "logprobs": 99}, "logprobs"),
        ({"model": "smollm2-135m"}, "prompt"),
        ({"model": "claude-sonnet-4-5", "prompt": "Hi"}, "ANTHROPIC_API_KEY"),
    ],
)
def test_bad_completion_requests(http: TestClient, body: dict[str, object], says: str) -> None:
    answer = http.post("/v1/completions", json=body)
    assert answer.status_code == (503 if "KEY" in says else 400)  # a missing key is the operator's
    assert says in answer.json()["error"]["message"]


def test_a_chat_only_provider_refuses_text_completions(
    home: Path, monkeypatch: pytest.MonkeyPatch, upstream: ReplayServer
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-a-secret")
    config = write_config(
        home,
        f"""
[providers.anthropic]
base_url = "{upstream.url}"
""",
    )
    with (
        Client(load_settings(config)) as client,
        pytest.raises(InvalidRequestError, match="text completions"),
    ):
        client.complete_text(TextRequest(model="claude-haiku-4-5", prompt="Hi"))
    assert upstream.requests == []  # refused before anything left the machine


def test_completions_pass_through_an_openai_compatible_upstream(home: Path, llama_server: str) -> None:
    """An upstream that speaks the completions wire (here llama_cpp.server) gets the request as is."""
    config = write_config(
        home,
        f"""
[providers.local-llama]
type = "openai"
base_url = "{llama_server}"
data_leaves_machine = false

[models.smol-http]
provider = "local-llama"
model = "smollm2"
""",
    )
    with Client(load_settings(config)) as client:
        answer = client.complete_text(
            TextRequest(model="smol-http", prompt="The capital of France is", max_tokens=4, temperature=0)
        )
    assert "Paris" in answer.text
    assert answer.provider == "local-llama" and answer.usage.completion_tokens > 0
