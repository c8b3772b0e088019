"""Privacy rules on routes, with what the closed upstream actually received as the proof:
``local-only`` keeps a flagged prompt on this machine; ``redact`` sends placeholders and
restores them in the answer, streamed or not."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.replay_server import ReplayServer, sse
from tests.test_openai_wire import COMPLETION
from weighbridge.client import Client
from weighbridge.config import load_settings

SECRET_MAIL = "jane.doe@example.com"
PLACEHOLDER = re.compile(r"\[[A-Z_]+_\d+\]")


@pytest.fixture
def client(home: Path, upstream: ReplayServer) -> Iterator[Client]:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f"""
[providers.cloud]
type = "openai"
base_url = "{upstream.url}"
[models.cloud-model]
provider = "cloud"
model = "gpt-4o-mini"
[routes.careful]
privacy = "local-only"
targets = [{{ model = "cloud-model" }}, {{ model = "smollm2-135m" }}]
[routes.masked]
privacy = "redact"
targets = [{{ model = "cloud-model" }}]
"""
    )
    with Client(load_settings()) as made:
        yield made


def sent_text(server: ReplayServer) -> str:
    return json.dumps(server.requests[-1].body)


def test_local_only_keeps_flagged_prompts_home(client: Client, upstream: ReplayServer) -> None:
    flagged = client.chat(f"Write one line to {SECRET_MAIL}.", model="careful", max_tokens=8)
    assert flagged.model == "smollm2-135m" and "local-only" in (flagged.route_reason or "")
    assert upstream.requests == []

    upstream.reply_json(COMPLETION)
    clean = client.chat("What is the capital of France?", model="careful")
    assert clean.model == "cloud-model" and len(upstream.requests) == 1


def test_redact_sends_placeholders_and_restores_the_answer(client: Client, upstream: ReplayServer) -> None:
    upstream.reply_json(COMPLETION)  # answer rewritten below once we know the placeholder
    client.chat(f"Draft a reply to {SECRET_MAIL} about invoice 42.", model="masked")
    outgoing = sent_text(upstream)
    assert SECRET_MAIL not in outgoing
    [placeholder] = set(PLACEHOLDER.findall(outgoing))

    answer = json.loads(json.dumps(COMPLETION))
    answer["choices"][0]["message"]["content"] = f"Sure, I will write to {placeholder} today."
    upstream.reply_json(answer)
    response = client.chat(f"Draft a reply to {SECRET_MAIL} about invoice 42.", model="masked")
    assert response.content == f"Sure, I will write to {SECRET_MAIL} today."
    assert SECRET_MAIL not in sent_text(upstream)
    assert "redacted" in (response.route_reason or "")


def test_redact_restores_placeholders_split_across_stream_chunks(
    client: Client, upstream: ReplayServer
) -> None:
    upstream.reply_json(COMPLETION)
    client.chat(f"Note for {SECRET_MAIL}", model="masked")
    [placeholder] = set(PLACEHOLDER.findall(sent_text(upstream)))
    cut = len(placeholder) // 2
    pieces = ["Mail ", placeholder[:cut], placeholder[cut:], " now."]

    def chunk(text: str, finish: str | None = None) -> str:
        delta = {"content": text} if text else {}
        body = {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return "data: " + json.dumps(body)

    upstream.reply_sse([sse(*[chunk(p) for p in pieces], chunk("", "stop"), "data: [DONE]")])
    stream = client.stream(f"Note for {SECRET_MAIL}", model="masked")
    text = "".join(c.text for c in stream)
    assert text == f"Mail {SECRET_MAIL} now."
    assert SECRET_MAIL not in sent_text(upstream)
