"""Quantizing the shipped model with llama.cpp: a valid GGUF that generates, with its
perplexity before and after measured and the result registered."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import llama_cpp
import pytest

import weighbridge
from tests.support.cli import invoke
from weighbridge.own.measure import heldout_text
from weighbridge.own.registry import registration
from weighbridge.providers.gguf_meta import read_metadata


@pytest.mark.long(10)
def test_quantize_makes_a_registered_gguf_that_generates(home: Path, tmp_path: Path) -> None:
    text = tmp_path / "heldout.txt"
    text.write_text(heldout_text()[:700])  # a short text keeps the two perplexity runs quick
    args = ["--type", "q4_0", "--name", "small", "--text", str(text), "--ctx", "128"]
    done = invoke("quantize", "smollm2-135m", *args)
    assert done.returncode == 0, done.stderr
    assert "perplexity" in done.stdout and "file size" in done.stdout and "decode tokens/s" in done.stdout
    assert "requantizing it loses more" in done.stdout  # the embedded file is already Q4_1

    out = home / "models" / "small.gguf"
    assert read_metadata(out)["general.file_type"] == llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0
    made = registration(home, "small")
    assert made is not None and made["base"] == "smollm2-135m"
    assert made["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    before, after = float(made["extra"]["perplexity_before"]), float(made["extra"]["perplexity_after"])
    assert 1 < before < 1000 and 1 < after < 1000 and math.isfinite(after)
    assert after != before  # q4_0 rounds differently from q4_1: the measure sees it

    response = weighbridge.chat("What is the capital of France?", model="small", max_tokens=8)
    assert response.content.strip() and response.usage.completion_tokens > 0
    assert response.weight_sha256 == made["sha256"]


def test_unknown_type_is_one_clear_line(home: Path) -> None:
    done = invoke("quantize", "smollm2-135m", "--type", "q9_9")
    assert done.returncode == 2
    assert done.stderr.startswith("error: unknown quantization type 'q9_9'; choose one of")
