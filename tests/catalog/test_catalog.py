"""The shipped catalog: complete for the models the brief names, and internally consistent."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import termios
from pathlib import Path

import pytest

from tests.support.cli import WEIGHBRIDGE, invoke
from weighbridge.config import load_settings

#: Every model the product brief promises, by catalog id.
REQUIRED = [
    "gpt-5",
    "gpt-5-pro",
    "gpt-5.4",
    "o1-mini",
    "claude-sonnet-4",
    "claude-sonnet-4-5",
    "claude-opus-4-7",
    "gemini-3-flash",
    "gemini-3-pro",
    "grok-4",
    "llama-2-13b-chat",
    "llama-2-70b-chat",
    "llama-3-8b-instruct",
    "llama-3.1-405b-instruct",
    "llama-4-scout-instruct",
    "llama-4-maverick-instruct",
    "mistral-7b-instruct",
    "deepseek-r1",
    "deepseek-v3",
    "deepseek-v3.1",
    "qwen3-235b-a22b",
    "kimi-k2-instruct",
    "granite-3.3-8b-instruct",
    "flux-1-schnell",
    "sdxl",
    "smollm2-135m",
]
DATE = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")  # month precision where the source gives no day


@pytest.fixture(scope="module")
def catalog():  # type: ignore[no-untyped-def]
    return load_settings().catalog


def test_brief_models_are_present(catalog) -> None:  # type: ignore[no-untyped-def]
    missing = [m for m in REQUIRED if m not in catalog.models]
    assert not missing


def test_entries_carry_what_a_user_decides_on(catalog) -> None:  # type: ignore[no-untyped-def]
    for model_id in REQUIRED:
        entry = catalog.models[model_id]
        assert entry.open_weights is not None, model_id
        assert entry.license and entry.license.terms, model_id
        assert entry.serve, model_id
        if entry.modality == "chat":
            assert entry.context_tokens, model_id
    for model_id, entry in catalog.models.items():
        if entry.price is not None:
            assert entry.price.source and entry.price.as_of, model_id
            assert DATE.match(entry.price.as_of), model_id
        for bench in entry.benchmarks:
            assert bench.source.startswith("http"), (model_id, bench.name)
        if entry.deprecated:
            assert DATE.match(entry.deprecated) and entry.deprecation_source, model_id


def test_closed_models_are_priced(catalog) -> None:  # type: ignore[no-untyped-def]
    for model_id, entry in catalog.models.items():
        if entry.open_weights is False and entry.modality == "chat":
            assert entry.price and entry.price.input_per_mtok is not None, model_id


def test_every_provider_says_how_it_was_verified(catalog) -> None:  # type: ignore[no-untyped-def]
    for name, provider in catalog.providers.items():
        assert provider.verified, name
    assert catalog.self_hosting is not None and catalog.self_hosting.source


def test_user_config_overrides_and_extends(home: Path) -> None:
    home.mkdir(parents=True)
    (home / "config.toml").write_text(
        """
default_model = "mine"
[models.gpt-5.price]
input_per_mtok = 99.0
output_per_mtok = 100.0
[models.mine]
file = "~/m.gguf"
"""
    )
    settings = load_settings()
    assert settings.default_model == "mine"
    assert settings.catalog.models["gpt-5"].price.input_per_mtok == 99.0  # type: ignore[union-attr]
    assert settings.catalog.models["gpt-5"].serve  # the rest of the entry is kept
    assert settings.catalog.models["mine"].serve[0].provider == "llamacpp"


def test_models_command_says_what_runs_and_why_not() -> None:
    result = invoke("models", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["id"]: row for row in json.loads(result.stdout)}
    assert rows["smollm2-135m"]["runnable"] is True
    assert rows["gpt-5"]["runnable"] is False
    assert "OPENAI_API_KEY" in rows["gpt-5"]["runnable_reason"]
    table = invoke("models", "--runnable")
    assert "smollm2-135m" in table.stdout and "gpt-5 " not in table.stdout


def _on_a_terminal(columns: int, *args: str) -> str:
    """What ``weighbridge`` prints on a terminal ``columns`` wide: the console script in a
    process of its own on a pseudo-terminal, since only a real terminal has a width to read."""
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen([WEIGHBRIDGE, *args], stdout=secondary, stderr=secondary, env=env)
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the terminal closed with the program
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=60)
    os.close(primary)
    return re.sub(r"\x1b\[[0-9;]*m", "", b"".join(chunks).decode())


def test_model_ids_are_never_cut_on_a_narrow_terminal_or_in_a_pipe() -> None:
    ids = [row["id"] for row in json.loads(invoke("models", "--json").stdout)]
    narrow = _on_a_terminal(80, "models")
    piped = invoke("models", env={"COLUMNS": "80"}).stdout  # click's runner: stdout is no terminal
    assert max(map(len, narrow.splitlines())) <= 80
    for out in (narrow, piped):
        assert "…" not in out.split("\n")[0]
        first_cells = {line.split()[0] for line in out.splitlines() if line.strip()}
        assert set(ids) <= first_cells, sorted(set(ids) - first_cells)
    # in a pipe, one line per model: grep finds a model and its figures together
    assert len([line for line in piped.splitlines() if line.strip()]) == len(ids) + 1


def test_model_defaults_apply_unless_the_request_sets_them(home: Path) -> None:
    from weighbridge.client import Client

    with Client(load_settings()) as client:
        implicit = client.planner.calls(client.request("hi", None, {}), "library")[0]
        explicit = client.planner.calls(client.request("hi", None, {"temperature": 0.7}), "library")[0]
    assert implicit.request.temperature == 0.0
    assert explicit.request.temperature == 0.7
    assert implicit.request.messages[0].role == "system"  # the entry's system prompt
