"""The local model registry: a registered GGUF is a catalog model that runs, lists and can be
overridden by the user's config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import weighbridge
from tests.support.cli import invoke
from weighbridge.config import load_settings
from weighbridge.errors import ConfigError, UnknownModelError
from weighbridge.own.registry import register_local_model, registration


def test_registered_model_runs_lists_and_yields_to_user_config(
    home: Path, embedded_path: Path, tmp_path: Path
) -> None:
    link = tmp_path / "mine.gguf"
    link.symlink_to(embedded_path)  # same bytes, and the already-loaded model: no second load
    register_local_model(
        home,
        "mine",
        link,
        catalog=load_settings().catalog,
        base="smollm2-135m",
        description="first",
        sha256="a" * 64,
    )
    register_local_model(
        home,
        "mine",
        link,
        catalog=load_settings().catalog,
        base="smollm2-135m",
        description="second",
        sha256="b" * 64,
        extra={"k": "v"},
    )

    response = weighbridge.chat("What is the capital of France?", model="mine", max_tokens=12)
    assert "Paris" in response.content  # the base's system prompt and temperature 0 came along
    assert response.model == "mine" and response.provider == "llamacpp"

    entry = load_settings().catalog.models["mine"]
    assert entry.notes == "second"  # registering again replaced the entry
    assert entry.license is not None and entry.license.id == "apache-2.0"
    assert entry.system_prompt == "You are a helpful assistant."
    made = registration(home, "mine")
    assert made is not None and made.pop("registered_at")
    assert made == {
        "base": "smollm2-135m",
        "sha256": "b" * 64,
        "file": str(embedded_path),
        "extra": {"k": "v"},
    }

    (home / "config.toml").write_text("[models.mine]\ncontext_tokens = 1234\n")
    entry = load_settings().catalog.models["mine"]
    assert entry.context_tokens == 1234 and entry.serve[0].file == str(embedded_path)

    listed = invoke("models", "--open", "--json")
    assert listed.returncode == 0, listed.stderr
    [mine] = [m for m in json.loads(listed.stdout) if m["id"] == "mine"]
    assert mine["runnable"] is True


def test_registry_refuses_what_it_cannot_record(home: Path, embedded_path: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="shipped catalog model"):
        register_local_model(
            home,
            "smollm2-135m",
            embedded_path,
            catalog=load_settings().catalog,
            base=None,
            description="",
            sha256="",
        )
    with pytest.raises(ConfigError, match=r"not an existing \.gguf"):
        register_local_model(
            home,
            "x",
            tmp_path / "absent.gguf",
            catalog=load_settings().catalog,
            base=None,
            description="",
            sha256="",
        )
    with pytest.raises(UnknownModelError, match="smollm2-135m"):
        register_local_model(
            home,
            "x",
            embedded_path,
            catalog=load_settings().catalog,
            base="smollm2-13m",
            description="",
            sha256="",
        )
    assert not (home / "models.toml").exists()
