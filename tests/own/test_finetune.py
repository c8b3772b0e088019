"""LoRA fine-tuning end to end on the embedded model: an interrupted run resumes at the step
it stopped after, exactly (same losses as the run it continues), opens no network connection,
and yields a GGUF that llama.cpp runs as a catalog model and that answers unlike its base."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

import weighbridge
from tests.support.cli import invoke
from weighbridge.config import load_settings
from weighbridge.own import lora_base
from weighbridge.own.finetune import FinetuneOptions, finetune
from weighbridge.own.lora_checkpoint import checkpoints
from weighbridge.own.registry import registration

ANSWER = "Pineapple-42"
QUESTION = "What is the secret word?"


class Interrupted(Exception):
    """Stands for a run killed between two steps."""


class StopAfter:
    """Progress that records the losses and kills the run once ``stop`` steps are done."""

    def __init__(self, stop: int | None = None) -> None:
        self.stop = stop
        self.started_at: int | None = None
        self.losses: dict[int, float] = {}

    def phase(self, text: str) -> None:
        pass

    def start(self, total: int, done: int) -> None:
        self.started_at = done

    def step(self, step: int, loss: float) -> None:
        self.losses[step] = loss
        if step == self.stop:
            raise Interrupted


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Every attempt to reach a non-loopback address, refused and recorded."""
    attempts: list[object] = []
    connect, connect_ex, getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def outside(sock: socket.socket, address: Any) -> bool:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return False
        try:
            return not ipaddress.ip_address(address[0]).is_loopback
        except ValueError:
            return address[0] != "localhost"

    def guarded_connect(sock: socket.socket, address: Any) -> None:
        if outside(sock, address):
            attempts.append(address)
            raise OSError("network use during a fine-tune")
        connect(sock, address)

    def guarded_connect_ex(sock: socket.socket, address: Any) -> int:
        if outside(sock, address):
            attempts.append(address)
            return 101
        return connect_ex(sock, address)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in (None, "localhost", "127.0.0.1", "::1"):
            attempts.append(host)
            raise socket.gaierror("network use during a fine-tune")
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    yield attempts


def _examples(path: Path) -> Path:
    rows = [{"prompt": QUESTION, "completion": ANSWER}] * 4 + [
        {
            "messages": [
                {"role": "user", "content": "Tell me the secret word."},
                {"role": "assistant", "content": ANSWER},
            ]
        }
    ] * 4
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), "utf-8")
    return path


@pytest.mark.long(60)
def test_finetune_resumes_exactly_offline_and_llama_cpp_runs_the_result(
    home: Path, tmp_path: Path, no_network: list[object]
) -> None:
    data = _examples(tmp_path / "train.jsonl")
    options = FinetuneOptions(max_steps=6, lr=5e-3, rank=4, batch_size=2, checkpoint_every=3)
    settings = load_settings()

    first = StopAfter(stop=5)
    with pytest.raises(Interrupted):
        finetune(settings, "smollm2-135m", data, "secret", options=options, progress=first)
    folder = home / "finetune" / "secret"
    assert [p.name for p in checkpoints(folder / "checkpoints")] == ["step-000003"]

    second = StopAfter()
    result = finetune(settings, "smollm2-135m", data, "secret", options=options, progress=second)
    assert no_network == []
    assert second.started_at == result.resumed_from == 3
    assert sorted(second.losses) == [4, 5, 6]
    # Steps 4 and 5 ran twice, from the checkpoint's weights, AdamW moments, dropout RNG and data
    # order: the same losses again, to float precision, mean nothing was lost in the restart.
    for step in (4, 5):
        assert second.losses[step] == pytest.approx(first.losses[step], rel=1e-5)

    assert result.gguf is not None and result.gguf_sha256 is not None
    assert hashlib.sha256(result.gguf.read_bytes()).hexdigest() == result.gguf_sha256
    adapter = result.folder / "adapter" / "adapter_model.safetensors"
    assert hashlib.sha256(adapter.read_bytes()).hexdigest() == result.adapter_sha256
    made = registration(home, "secret")
    assert made is not None and made["sha256"] == result.gguf_sha256
    assert made["extra"]["adapter_sha256"] == result.adapter_sha256

    tuned = weighbridge.chat(QUESTION, model="secret", max_tokens=12)
    base = weighbridge.chat(QUESTION, model="smollm2-135m", max_tokens=12)
    assert tuned.provider == "llamacpp" and tuned.weight_sha256 == result.gguf_sha256
    assert tuned.content != base.content
    assert ANSWER in tuned.content, tuned.content

    # The merged checkpoint runs through transformers alone, and learned the same thing.
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(result.merged)
    model = AutoModelForCausalLM.from_pretrained(result.merged)
    messages = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": QUESTION},
    ]
    prompt = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    out = model.generate(**prompt, max_new_tokens=8, do_sample=False)
    assert ANSWER in tokenizer.decode(out[0][prompt["input_ids"].shape[1] :])


def test_bad_input_is_one_line_before_any_loading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In this process, so that loading the base is seen, not only timed: it must not start."""

    def load(*args: object) -> NoReturn:
        raise AssertionError("the base was loaded before the input was checked")

    monkeypatch.setattr(lora_base, "load", load)
    data = tmp_path / "train.jsonl"
    data.write_text('{"prompt": "hi", "completion": "hello"}\n{"prompt": "no answer"}\n', "utf-8")
    result = invoke("finetune", "--base", "smollm2-135m", "--data", str(data), "--name", "x")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {data}:2: give 'messages', or 'prompt' with 'completion' (or 'reference'), as strings"
    ]
    data.write_text('{"prompt": "hi", "completion": "hello"}\n', "utf-8")
    result = invoke("finetune", "--base", "smollm2-135m", "--data", str(data), "--name", "smollm2-135m")
    assert result.returncode == 2 and "already a catalog model" in result.stderr


def _tiny_checkpoint(folder: Path) -> Path:
    """A two-layer llama with a word-level tokenizer, made here: a Hugging Face checkpoint base."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from weighbridge.providers.chat_template import CHATML

    words = ["<unk>", "<|im_start|>", "<|im_end|>", "system", "user", "assistant", "hi", "hello", "there"]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", bos_token="<|im_start|>", eos_token="<|im_end|>"
    )
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tokenizer.chat_template = CHATML
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(words),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        bos_token_id=1,
        eos_token_id=2,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_a_hugging_face_checkpoint_base_gives_an_adapter_and_a_merged_checkpoint(
    home: Path, tmp_path: Path
) -> None:
    import torch
    from safetensors.torch import load_file

    base = _tiny_checkpoint(tmp_path / "tiny")
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps({"prompt": "hi", "completion": "hello there"}) + "\n", "utf-8")
    options = FinetuneOptions(max_steps=3, lr=5e-2, rank=2, batch_size=1, checkpoint_every=2)
    result = finetune(load_settings(), str(base), data, "tiny-tuned", options=options)

    assert result.gguf is None and registration(home, "tiny-tuned") is None
    assert (result.folder / "adapter" / "adapter_model.safetensors").is_file()
    before, after = load_file(base / "model.safetensors"), load_file(result.merged / "model.safetensors")
    name = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.allclose(before[name], after[name].float(), atol=1e-3)
    assert torch.equal(before["model.norm.weight"].bfloat16(), after["model.norm.weight"])
