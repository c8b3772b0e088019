"""Drift canaries: a swapped model is caught, an unchanged one is not, for a local model and
for a closed one behind a (replayed) provider API. The closed one stays on the OpenAI wire: the
snapshot id drift watches is the one that wire reports, and the temperature and seed that keep
canaries comparable must be what the wire carries. The CLI runs in this process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import invoke
from tests.support.replay import ReplayServer
from weighbridge.client import Client
from weighbridge.config import load_settings
from weighbridge.errors import InvalidRequestError
from weighbridge.own.drift import load_canaries, run_drift
from weighbridge.own.quantize import quantize_file
from weighbridge.own.registry import register_local_model

CANARIES = [
    {"id": "capital", "prompt": "What is the capital of France?"},
    {"id": "colours", "messages": [{"role": "user", "content": "Name three primary colours."}]},
]


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    path = tmp_path / "canary.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in CANARIES))
    return path


def test_local_drift_flags_the_quantized_stand_in_and_not_the_original(
    home: Path, embedded_path: Path, tmp_path: Path, canary: Path
) -> None:
    canaries = load_canaries(canary)
    register_local_model(
        home,
        "watched",
        embedded_path,
        catalog=load_settings().catalog,
        base="smollm2-135m",
        description="",
        sha256="",
    )
    with Client(load_settings()) as client:
        first = run_drift(client, "watched", canaries, max_tokens=16)
        assert first.baselined == 2 and not first.compared and not first.changed
        again = run_drift(client, "watched", canaries, max_tokens=16)
        assert not again.changed and again.exact_match_rate == 1.0 and again.similarity == 1.0

    swapped = tmp_path / "q4_0.gguf"
    quantize_file(embedded_path, swapped, "q4_0", requantize=True)
    register_local_model(
        home,
        "watched",
        swapped,
        catalog=load_settings().catalog,
        base="smollm2-135m",
        description="",
        sha256="",
    )
    with Client(load_settings()) as client:
        drifted = run_drift(client, "watched", canaries, max_tokens=16)
    assert drifted.changed
    assert drifted.similarity is not None and drifted.similarity < 1.0  # the answers moved, not only the hash
    assert drifted.then.weight_sha256s != drifted.now.weight_sha256s
    assert any("weights changed" in reason for reason in drifted.reasons)


def _openai_answer(text: str, model: str) -> dict[str, object]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
    }


def test_closed_model_drift_through_the_provider_api(
    home: Path, canary: Path, upstream: ReplayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-drift")
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f'[providers.openai]\nbase_url = "{upstream.url}"\n\n'
        '[models.watched]\nprovider = "openai"\nmodel = "gpt-test"\n'
    )
    answers = ["Paris.", "Red, blue and yellow."]
    for _ in range(2):  # the baseline, then the same again
        for text in answers:
            upstream.reply_json(_openai_answer(text, "gpt-test-2025-01-01"))
    assert invoke("drift", "watched", "--canary", str(canary)).returncode == 0
    unchanged = invoke("drift", "watched", "--canary", str(canary))
    assert unchanged.returncode == 0 and "no drift" in unchanged.stdout

    upstream.reply_json(_openai_answer("Paris.", "gpt-test-2025-06-01"))
    upstream.reply_json(_openai_answer("The primary colours are red, green and blue.", "gpt-test-2025-06-01"))
    drifted = invoke("drift", "watched", "--canary", str(canary))
    assert drifted.returncode == 1, drifted.stderr
    assert "model id changed: gpt-test-2025-01-01 -> gpt-test-2025-06-01" in drifted.stderr
    assert "exact match 50%" in drifted.stdout
    sent = [r.body for r in upstream.requests]
    assert all(body["temperature"] == 0 and body["seed"] == 0 for body in sent)


def test_a_bad_canary_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "canary.jsonl"
    path.write_text('{"prompt": "ok"}\n{"text": "no prompt"}\n')
    with pytest.raises(InvalidRequestError, match=r"canary.jsonl:2: each line needs exactly one of"):
        load_canaries(path)
