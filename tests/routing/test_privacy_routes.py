"""Privacy rules on routes, with what the closed provider actually received as the proof:
``local-only`` keeps a flagged prompt on this machine; ``redact`` sends placeholders and
restores them in the answer, streamed or not. The closed provider is a scripted one
(tests/support/scripted.py): the rules are applied above providers, so the request a provider
is handed is what would cross the wire."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.scripted import Script, script
from weighbridge.client import Client
from weighbridge.config import load_settings
from weighbridge.errors import WeighbridgeError

SECRET_MAIL = "jane.doe@example.com"
PLACEHOLDER = re.compile(r"\[[A-Z_]+_\d+\]")


ANSWER = "Hello there"


@pytest.fixture
def upstream(scripts: dict[str, Script]) -> Script:
    """What the closed provider ``cloud`` answers, and what it was sent."""
    return script("cloud")


@pytest.fixture
def client(home: Path, upstream: Script) -> Iterator[Client]:
    home.mkdir(parents=True, exist_ok=True)
    (home / "broken.gguf").write_bytes(b"GGUF\x03\x00\x00\x00\x01")  # a local model that cannot load
    (home / "config.toml").write_text(
        f"""
[providers.cloud]
type = "scripted"
base_url = "scripted://cloud"
[models.cloud-model]
provider = "cloud"
model = "gpt-4o-mini"
[routes.careful]
privacy = "local-only"
targets = [{{ model = "cloud-model" }}, {{ model = "smollm2-135m" }}]
[routes.masked]
privacy = "redact"
targets = [{{ model = "cloud-model" }}]
[models.local-gone]
file = "{home / "broken.gguf"}"
[routes.careful-but-down]
privacy = "local-only"
targets = [{{ model = "local-gone" }}, {{ model = "cloud-model" }}]
"""
    )
    with Client(load_settings()) as made:
        yield made


def sent_text(upstream: Script) -> str:
    """The last request the provider was handed, as it would be serialised to send."""
    return json.dumps(upstream.requests[-1].model_dump(mode="json"))


def test_local_only_keeps_flagged_prompts_home(client: Client, upstream: Script) -> None:
    flagged = client.chat(f"Write one line to {SECRET_MAIL}.", model="careful", max_tokens=8)
    assert flagged.model == "smollm2-135m" and "local-only" in (flagged.route_reason or "")
    assert upstream.requests == []

    upstream.answer(ANSWER)
    clean = client.chat("What is the capital of France?", model="careful")
    assert clean.model == "cloud-model" and len(upstream.requests) == 1


def test_redact_sends_placeholders_and_restores_the_answer(client: Client, upstream: Script) -> None:
    upstream.answer(ANSWER)  # the answer to script comes below once we know the placeholder
    client.chat(f"Draft a reply to {SECRET_MAIL} about invoice 42.", model="masked")
    outgoing = sent_text(upstream)
    assert SECRET_MAIL not in outgoing
    [placeholder] = set(PLACEHOLDER.findall(outgoing))

    upstream.answer(f"Sure, I will write to {placeholder} today.")
    response = client.chat(f"Draft a reply to {SECRET_MAIL} about invoice 42.", model="masked")
    assert response.content == f"Sure, I will write to {SECRET_MAIL} today."
    assert SECRET_MAIL not in sent_text(upstream)
    assert "redacted" in (response.route_reason or "")


def test_redact_restores_placeholders_split_across_stream_chunks(client: Client, upstream: Script) -> None:
    upstream.answer(ANSWER)
    client.chat(f"Note for {SECRET_MAIL}", model="masked")
    [placeholder] = set(PLACEHOLDER.findall(sent_text(upstream)))
    cut = len(placeholder) // 2
    upstream.chunks("Mail ", placeholder[:cut], placeholder[cut:], " now.")
    stream = client.stream(f"Note for {SECRET_MAIL}", model="masked")
    text = "".join(c.text for c in stream)
    assert text == f"Mail {SECRET_MAIL} now."
    assert SECRET_MAIL not in sent_text(upstream)


NOTE = (
    "Summarise for the insurer. Patient: Laura Bennett, DOB 02/14/1971, MRN 9021377, "
    "SSN 512-44-1098, lives at 19 Maple Drive, Columbus, OH 43004; reach her at "
    "laura.b(at)mail.example.com."
)
NOTE_VALUES = [
    "Laura Bennett", "02/14/1971", "9021377", "512-44-1098", "19 Maple Drive, Columbus, OH 43004",
    "laura.b(at)mail.example.com",
]  # fmt: skip


def test_redact_hides_names_record_numbers_birth_dates_and_addresses_beside_an_ssn(
    client: Client, upstream: Script
) -> None:
    upstream.answer(ANSWER)
    client.chat(NOTE, model="masked")
    outgoing = sent_text(upstream)
    assert [value for value in NOTE_VALUES if value in outgoing] == []
    placeholders = sorted(set(PLACEHOLDER.findall(outgoing)))
    assert len(placeholders) == len(NOTE_VALUES), placeholders

    upstream.answer(" / ".join(placeholders))
    restored = client.chat(NOTE, model="masked").content
    assert sorted(restored.split(" / ")) == sorted(NOTE_VALUES)


@pytest.mark.parametrize("route", ["careful", "careful-but-down"])
def test_an_obfuscated_email_never_reaches_a_closed_model(
    client: Client, upstream: Script, route: str
) -> None:
    """Spelled out to dodge a filter, the address still keeps the prompt home; with the local
    target down, the request fails rather than fall back to the closed one."""
    upstream.answer(ANSWER)
    prompt = "Write one line to jane.doe(at)example(dot)com about her results."
    if route == "careful":
        answer = client.chat(prompt, model=route, max_tokens=8)
        assert answer.model == "smollm2-135m"
    else:
        with pytest.raises(WeighbridgeError) as failure:
            client.chat(prompt, model=route, max_tokens=8)
        assert "jane.doe" not in str(failure.value)
    assert upstream.requests == []
