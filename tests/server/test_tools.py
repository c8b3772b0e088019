"""Tools people already use, unmodified, against the gateway: langchain-openai, and simonw's
``llm`` CLI through its OpenAI-compatible model configuration. The gateway runs in this process
on a real port, since ``llm`` is a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gateway import serving

QUESTION = "What is the capital of France?"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving(tmp_path_factory.mktemp("gw-tools")) as base:
        yield base


def test_langchain_openai(gateway: str) -> None:
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(base_url=gateway + "/v1", api_key="unused", model="smollm2-135m", max_retries=0)
    assert "Paris" in str(chat.invoke(QUESTION).content)
    streamed = "".join(str(piece.content) for piece in chat.stream(QUESTION))
    assert "Paris" in streamed


def test_llm_cli(gateway: str, tmp_path: Path) -> None:
    user_dir = tmp_path / "llm"
    user_dir.mkdir()
    (user_dir / "extra-openai-models.yaml").write_text(
        f"- model_id: wb-smol\n  model_name: smollm2-135m\n  api_base: {gateway}/v1\n"
    )
    env = dict(os.environ, LLM_USER_PATH=str(user_dir), OPENAI_API_KEY="unused")
    llm = str(Path(sys.executable).parent / "llm")
    result = subprocess.run(
        [llm, "-m", "wb-smol", QUESTION], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "Paris" in result.stdout
    no_stream = subprocess.run(
        [llm, "-m", "wb-smol", "--no-stream", QUESTION], capture_output=True, text=True, env=env, timeout=120
    )
    assert "Paris" in no_stream.stdout
