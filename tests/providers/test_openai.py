"""The OpenAI-compatible provider against a real server: llama_cpp.server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from weighbridge.client import Client
from weighbridge.config import load_settings
from weighbridge.errors import ProviderError


@pytest.fixture
def client(home: Path, llama_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    config = home / "config.toml"
    home.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f"""
[providers.local-llama]
type = "openai"
base_url = "{llama_server}"
api_key_env = "LOCAL_LLAMA_KEY"
data_leaves_machine = false

[models.smol-http]
provider = "local-llama"
model = "smollm2"
system_prompt = "You are a helpful assistant."
"""
    )
    monkeypatch.setenv("LOCAL_LLAMA_KEY", "sk-test-not-a-secret")
    made = Client(load_settings(config))
    yield made
    made.close()


def test_chat_through_openai_wire(client: Client) -> None:
    response = client.chat("What is the capital of France?", model="smol-http", temperature=0)
    assert "Paris" in response.content
    assert response.provider == "local-llama"
    assert response.usage.prompt_tokens > 0 and response.usage.completion_tokens > 0
    assert response.finish_reason == "stop"
    assert response.upstream_model  # the server's own model id is kept


def test_stream_through_openai_wire(client: Client) -> None:
    stream = client.stream("What is the capital of France?", model="smol-http", temperature=0)
    pieces = [c.text for c in stream if c.text]
    assert len(pieces) > 1
    assert stream.response is not None and "Paris" in stream.response.content
    assert stream.response.ttft_s is not None


def test_provider_form_of_model_name(client: Client) -> None:
    response = client.chat("Say hi.", model="local-llama/smollm2", max_tokens=5)
    assert response.usage.completion_tokens <= 5


def test_context_overflow_is_a_client_error(client: Client) -> None:
    with pytest.raises(ProviderError) as caught:
        client.chat("word " * 5000, model="smol-http", max_tokens=5)
    assert caught.value.status == 400
    assert not caught.value.retryable
    [record] = client.store.recent(1)
    assert record.status == "error" and "400" in (record.error or "")
