"""Every bad input ends in one clear line and exit code 2: never a traceback.

The CLI runs in this process (click's runner): what is checked is the command's own handling,
which a process adds nothing to. Where a weight file reaches llama.cpp, whose C code writes to
file descriptor 2 directly, the descriptor is read too (``capfd``): a user would see that."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import invoke


def assert_one_line_error(result: object, *needles: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)  # type: ignore[attr-defined]
    err = result.stderr.strip()  # type: ignore[attr-defined]
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err


def test_unknown_model_suggests_close_names() -> None:
    assert_one_line_error(invoke("run", "-m", "gpt-5-mimi", "hi"), "unknown model 'gpt-5-mimi'", "gpt-5-mini")


def test_missing_key_names_the_variable() -> None:
    assert_one_line_error(invoke("run", "-m", "claude-sonnet-4-5", "hi"), "ANTHROPIC_API_KEY")


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "not a GGUF file"),
        (b"PK\x03\x04 not a model", "not a GGUF file"),
        (b"GGUF\x03\x00\x00\x00\x01", "truncated or corrupt"),
    ],
)
def test_bad_weight_files(
    tmp_path: Path, content: bytes, needle: str, capfd: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(content)
    assert_one_line_error(invoke("run", "-m", str(bad), "hi"), needle)
    assert capfd.readouterr().err == ""  # nothing from llama.cpp besides


def test_truncated_gguf_is_refused(
    tmp_path: Path, embedded_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    cut = tmp_path / "cut.gguf"
    with embedded_path.open("rb") as src:
        cut.write_bytes(src.read(embedded_path.stat().st_size // 3))
    assert_one_line_error(invoke("run", "-m", str(cut), "hi"), "cut.gguf")
    assert capfd.readouterr().err == ""  # nothing from llama.cpp besides


def test_weight_path_that_is_a_directory(tmp_path: Path) -> None:
    folder = tmp_path / "folder.gguf"
    folder.mkdir()
    assert_one_line_error(invoke("run", "-m", str(folder), "hi"), "is not a file")


def test_missing_weight_file() -> None:
    assert_one_line_error(invoke("run", "-m", "/nowhere/model.gguf", "hi"), "does not exist")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[models.x\nprovider = 1", "not valid TOML"),
        ('[providers.p]\ntype = "openai"\nbase_url = "http://x"\napi_key = "sk-123"', "never stored"),
        ('[models.x]\nprovider = "nope"\nmodel = "m"', "unknown provider 'nope'"),
        ('[providers.p]\ntype = "carrier-pigeon"', "providers.p.type"),
        ('[log]\nretention = "forever"', "retention"),
        ("[surprise]\nx = 1", "unknown section"),
    ],
)
def test_malformed_config(tmp_path: Path, text: str, needle: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(text)
    result = invoke("--config", str(config), "run", "hi")
    assert_one_line_error(result, needle)
    assert "sk-123" not in result.stderr


def test_config_file_must_exist(tmp_path: Path) -> None:
    assert_one_line_error(invoke("--config", str(tmp_path / "none.toml"), "models"), "does not exist")


def test_invalid_parameters() -> None:
    assert_one_line_error(invoke("run", "--temperature", "7", "hi"), "temperature")
    assert_one_line_error(invoke("run", "--max-tokens", "0", "hi"), "max_tokens")


def test_empty_prompt() -> None:
    assert_one_line_error(invoke("run", "   "), "empty")


def test_no_prompt_at_all() -> None:
    assert_one_line_error(invoke("run", input=""), "empty")
