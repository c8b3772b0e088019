"""Pins: the lock file, ``verify``, and a weight file that changed refusing to load."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

import weighbridge
from tests.support.cli import invoke
from weighbridge.config import load_settings
from weighbridge.errors import ModelLoadError
from weighbridge.own.registry import register_local_model

CONFIG = """
[models.gpt5]
provider = "openai"
model = "gpt-5"

[models.sonnet-dated]
provider = "anthropic"
model = "claude-sonnet-4-20250514"
"""


@pytest.fixture
def lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "weighbridge.lock"
    monkeypatch.setenv("WEIGHBRIDGE_LOCK", str(path))
    return path


@pytest.fixture
def mine(home: Path, embedded_path: Path, tmp_path: Path) -> Path:
    """A real copy of the embedded GGUF, registered as 'mine' (a copy, so it can be tampered with)."""
    copy = tmp_path / "mine.gguf"
    shutil.copyfile(embedded_path, copy)
    register_local_model(
        home,
        "mine",
        copy,
        catalog=load_settings().catalog,
        base="smollm2-135m",
        description="copy",
        sha256="",
    )
    return copy


def test_pin_writes_files_and_snapshots_and_verify_checks_them(home: Path, mine: Path, lock: Path) -> None:
    (home / "config.toml").write_text(CONFIG)
    pinned = invoke("pin")
    assert pinned.returncode == 0, pinned.stderr
    data = json.loads(lock.read_text())
    assert data["files"]["mine"]["path"] == str(mine)
    assert data["files"]["mine"]["size"] == mine.stat().st_size
    assert data["files"]["mine"]["sha256"] == data["files"]["smollm2-135m"]["sha256"]  # same bytes
    assert data["snapshots"]["gpt5"] == {"provider": "openai", "upstream": "gpt-5"}
    assert data["snapshots"]["sonnet-dated"]["upstream"] == "claude-sonnet-4-20250514"
    assert "gpt5: 'gpt-5' is an alias" in pinned.stderr and "sonnet-dated" not in pinned.stderr

    register_local_model(
        home,
        "later",
        mine,
        catalog=load_settings().catalog,
        base=None,
        description="after the pin",
        sha256="",
    )
    verified = invoke("verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "not pinned (allowed)" in verified.stdout and "ok:" in verified.stdout

    other = lock.with_name("other.lock")
    assert invoke("pin", "-m", "grok-4", "--lock", str(other)).returncode == 0
    assert json.loads(other.read_text())["snapshots"]["grok-4"]["upstream"] == "grok-4-0709"


def test_tampered_weights_refuse_to_load_unless_allowed(home: Path, mine: Path, lock: Path) -> None:
    assert invoke("pin", "-m", "mine").returncode == 0
    pinned = json.loads(lock.read_text())["files"]["mine"]["sha256"]
    with mine.open("r+b") as f:  # flip bytes inside the last tensor's data
        f.seek(-4096, 2)
        data = f.read(64)
        f.seek(-4096, 2)
        f.write(bytes(b ^ 0xFF for b in data))

    with pytest.raises(ModelLoadError) as refused:
        weighbridge.chat("Hi", model="mine", max_tokens=4)
    message = refused.value.message
    now = hashlib.sha256(mine.read_bytes()).hexdigest()
    assert str(mine) in message and pinned in message and now in message and "--allow-unpinned" in message

    verified = invoke("verify")
    assert verified.returncode == 1 and "CHANGED" in verified.stdout
    assert invoke("run", "-m", "mine", "Hi", "--max-tokens", "4").returncode == 2
    allowed = invoke("--allow-unpinned", "run", "-m", "mine", "Hi", "--max-tokens", "4")
    assert allowed.returncode == 0, allowed.stderr


@pytest.mark.parametrize("suffix", [".bin", ".pt"])
def test_pickle_weight_formats_are_never_loaded(home: Path, tmp_path: Path, suffix: str) -> None:
    weights = tmp_path / f"model{suffix}"
    weights.write_bytes(b"\x80\x04not really a pickle")
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(f'[models.pickled]\nfile = "{weights}"\n')
    with pytest.raises(ModelLoadError, match=r"only \.gguf and \.safetensors weights are loaded"):
        weighbridge.chat("Hi", model="pickled", max_tokens=4)
