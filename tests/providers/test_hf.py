"""Hugging Face checkpoints through transformers, on a real checkpoint: the embedded model,
dequantized from its GGUF by transformers and saved as safetensors once for the test run (the
``hf_checkpoint`` fixture, about 20 s on 2 cores; each model then loads in about a second)."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_bad_input import assert_one_line_error
from tests.eval.test_loglikelihood import assert_echo_ends_on_the_end_token
from tests.support.cli import invoke
from weighbridge.client import Client
from weighbridge.config import load_settings
from weighbridge.errors import InvalidRequestError, ModelLoadError
from weighbridge.types import EmbeddingRequest, ScoreRequest, TextRequest
from weighbridge.weights import weight_sha256

QUESTION = "What is the capital of France?"
TEXT = "The capital of France is Paris. It is known for the Eiffel Tower and its museums."


@pytest.fixture(scope="module")
def adapter(hf_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter with random (nonzero) weights on the attention projections."""
    import torch
    from peft import LoraConfig, get_peft_model

    from weighbridge.providers.hf_load import load_checkpoint, peft_quietly

    model, _ = load_checkpoint(hf_checkpoint)
    torch.manual_seed(0)
    config = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    folder = tmp_path_factory.mktemp("adapter")
    with peft_quietly():
        get_peft_model(model, config).save_pretrained(folder, safe_serialization=True)
    return folder


@pytest.fixture
def client(home: Path, hf_checkpoint: Path, adapter: Path) -> Iterator[Client]:
    """A client whose config declares the checkpoint, and the checkpoint with the adapter."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f'[models.smol-hf]\nfile = "{hf_checkpoint}"\nsystem_prompt = "You are a helpful assistant."\n'
        f'[models.smol-tuned]\nfile = "{hf_checkpoint}"\nadapter = "{adapter}"\n'
    )
    with Client() as made:
        yield made


def echo_logprobs(
    client: Client, model: str, prompt: str | list[int]
) -> tuple[list[str], list[float | None]]:
    request = TextRequest(model=model, prompt=prompt, max_tokens=0, echo=True, logprobs=2)
    logprobs = client.complete_text(request).logprobs
    assert logprobs is not None
    return logprobs.tokens, logprobs.token_logprobs


@pytest.mark.long(45)
def test_chat_answers_streams_and_stops_through_the_client(client: Client) -> None:
    whole = client.chat(QUESTION, model="smol-hf", temperature=0)
    assert "Paris" in whole.content and whole.finish_reason == "stop"
    assert whole.provider == "transformers" and len(whole.weight_sha256 or "") == 64
    assert whole.usage.prompt_tokens > 0 and whole.usage.completion_tokens > 0

    stream = client.stream(QUESTION, model="smol-hf", temperature=0)
    pieces = [chunk.text for chunk in stream]
    assert len([p for p in pieces if p]) > 1, "a stream arrives in pieces"
    assert stream.response is not None and "".join(pieces) == stream.response.content == whole.content
    assert stream.response.usage == whole.usage and stream.response.finish_reason == "stop"

    counting = "Count from 1 to 20, separated by commas."
    short = client.chat(counting, model="smol-hf", temperature=0, max_tokens=5)
    assert short.finish_reason == "length" and short.usage.completion_tokens == 5
    cut = client.chat(counting, model="smol-hf", temperature=0, stop=["5"])
    assert "4" in cut.content and "5" not in cut.content and cut.finish_reason == "stop"


def test_echo_logprobs_are_the_models_and_agree_with_llama_cpp(client: Client, hf_checkpoint: Path) -> None:
    """The same log-probabilities as a direct torch computation, for text and for token ids;
    and near llama.cpp's on the GGUF the checkpoint came from: the weights are the same Q4_1
    values, but llama.cpp multiplies them against 8-bit-quantized activations."""
    import torch
    from transformers import AutoModelForCausalLM

    tokens, logprobs = echo_logprobs(client, "smol-hf", TEXT)
    ids = client.run_async(lambda: client.atokenizer("smol-hf", "tokenize", TEXT, True))
    assert echo_logprobs(client, "smol-hf", ids) == (tokens, logprobs)
    assert "".join(tokens) == TEXT and logprobs[0] is None
    assert client.run_async(lambda: client.atokenizer("smol-hf", "detokenize", ids)) == TEXT
    info = client.run_async(lambda: client.atokenizer("smol-hf", "tokenizer_info"))
    assert info["eos_token"] == "<|im_end|>" and "im_start" in info["chat_template"]

    model = AutoModelForCausalLM.from_pretrained(hf_checkpoint, dtype=torch.float32)
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, :-1].double()
    direct = logits.log_softmax(-1).gather(1, torch.tensor(ids[1:])[:, None])[:, 0].tolist()
    assert logprobs[1:] == pytest.approx(direct, abs=1e-4)

    gguf_tokens, gguf_logprobs = echo_logprobs(client, "smollm2-135m", TEXT)
    assert gguf_tokens == tokens
    gaps = [abs(a - b) for a, b in zip(logprobs[1:], gguf_logprobs[1:], strict=True)]
    assert max(gaps) < 0.3 and sum(gaps) / len(gaps) < 0.1, gaps


def test_an_echo_keeps_the_end_of_text_token_it_generated(client: Client) -> None:
    """As the llama.cpp provider's does (tests/eval/test_loglikelihood.py): an echo that ends
    on the end-of-text token has it last, with its log-probability, as lm-eval reads an echo."""
    assert_echo_ends_on_the_end_token(client, "smol-hf")


def test_continuations_score_as_their_echoed_tokens_do(client: Client) -> None:
    """Scoring continuations after one prompt (what log-likelihood evaluations ask) gives each
    the sum of its tokens' echoed log-probabilities, the prompt evaluated once for all."""

    def tokens(text: str) -> list[int]:
        return client.run_async(lambda: client.atokenizer("smol-hf", "tokenize", text, False))

    context = "The capital of France is"
    prompt = tokens(context)
    choices = [tokens(context + c)[len(prompt) :] for c in (" Paris", " London", " a city in Europe")]
    request = ScoreRequest(model="smol-hf", prompt=prompt, continuations=choices)
    scored = client.run_async(lambda: client.ascore(request)).scores
    for choice, score in zip(choices, scored, strict=True):
        echoed = echo_logprobs(client, "smol-hf", prompt + choice)[1][len(prompt) :]
        assert score.logprob == pytest.approx(sum(echoed), abs=1e-4)
    paris, london, _ = scored
    assert paris.greedy and not london.greedy and paris.logprob > london.logprob + 1


def test_embeddings_are_unit_vectors_of_the_hidden_size(client: Client) -> None:
    texts = ["The cat sat on the mat.", "A cat was sitting on a mat.", "Quarterly revenue rose 4%."]
    got = client.embed(EmbeddingRequest(model="smol-hf", input=texts))
    assert [len(v) for v in got.vectors] == [576] * 3
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-9) for v in got.vectors)
    cat, sitting, revenue = got.vectors
    assert sum(a * b for a, b in zip(cat, sitting, strict=True)) > sum(
        a * b for a, b in zip(cat, revenue, strict=True)
    )
    with pytest.raises(InvalidRequestError, match="576 dimensions"):
        client.embed(EmbeddingRequest(model="smol-hf", input="x", dimensions=8))


def test_a_lora_adapter_changes_the_logprobs_and_the_weights_identity(
    client: Client, hf_checkpoint: Path, adapter: Path
) -> None:
    base_tokens, base = echo_logprobs(client, "smol-hf", TEXT)
    tuned_tokens, tuned = echo_logprobs(client, "smol-tuned", TEXT)
    assert tuned_tokens == base_tokens
    assert max(abs(a - b) for a, b in zip(base[1:], tuned[1:], strict=True)) > 0.01

    plain = client.chat(QUESTION, model="smol-hf", max_tokens=2, temperature=0).weight_sha256
    tuned_sha = client.chat(QUESTION, model="smol-tuned", max_tokens=2, temperature=0).weight_sha256
    assert plain == weight_sha256(client.store, hf_checkpoint)
    by_path = client.chat(QUESTION, model=str(hf_checkpoint), max_tokens=2)  # a folder names a model too
    assert by_path.provider == "transformers" and by_path.weight_sha256 == plain
    assert tuned_sha == weight_sha256(client.store, hf_checkpoint, adapter) != plain


def test_missing_or_invalid_folders_are_one_line_errors(
    home: Path, tmp_path: Path, hf_checkpoint: Path
) -> None:
    home.mkdir(parents=True, exist_ok=True)
    not_adapter = tmp_path / "empty"
    not_adapter.mkdir()
    (home / "config.toml").write_text(
        f'[models.gone]\nfile = "{tmp_path / "nowhere"}"\nprovider = "transformers"\n'
        f'[models.bad-adapter]\nfile = "{hf_checkpoint}"\nadapter = "{not_adapter}"\n'
        f'[models.gguf-adapter]\nfile = "{tmp_path / "x.gguf"}"\nadapter = "{not_adapter}"\n'
    )
    (tmp_path / "x.gguf").write_bytes(b"GGUF")
    assert_one_line_error(invoke("run", "-m", "gone", "hi"), "nowhere", "does not exist")
    assert_one_line_error(invoke("run", "-m", "bad-adapter", "hi"), "not a peft LoRA adapter")
    assert_one_line_error(invoke("run", "-m", "gguf-adapter", "hi"), "cannot load a LoRA adapter")
    assert_one_line_error(invoke("run", "-m", str(tmp_path), "hi"), "unknown model")


def test_pin_covers_the_checkpoint_folder_and_its_adapter(
    home: Path, tmp_path: Path, hf_checkpoint: Path, adapter: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = tmp_path / "weighbridge.lock"
    monkeypatch.setenv("WEIGHBRIDGE_LOCK", str(lock))
    mine = shutil.copytree(adapter, tmp_path / "adapter")
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(f'[models.tuned]\nfile = "{hf_checkpoint}"\nadapter = "{mine}"\n')
    assert invoke("pin", "-m", "tuned").returncode == 0
    pinned = json.loads(lock.read_text())["files"]["tuned"]
    assert pinned["path"] == str(hf_checkpoint) and pinned["adapter"] == str(mine)
    store = load_settings().open_store()
    try:
        assert pinned["sha256"] == weight_sha256(store, hf_checkpoint, mine)
    finally:
        store.close()

    config = mine / "adapter_config.json"
    config.write_text(config.read_text().replace('"r": 4', '"r": 4 '))  # one byte more
    verified = invoke("verify")
    assert verified.returncode == 1 and "CHANGED" in verified.stdout
    with pytest.raises(ModelLoadError, match="refusing to load model 'tuned'"), Client() as refusing:
        refusing.chat("Hi", model="tuned", max_tokens=2)


def test_a_folders_hash_covers_every_file_and_name(home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"weights")
    store = load_settings().open_store()
    try:
        first = weight_sha256(store, folder)
        (folder / ".cache").mkdir()
        (folder / ".cache" / "hub.lock").write_text("x")  # hidden: not part of the weights
        assert weight_sha256(store, folder) == first
        (folder / "tokenizer.json").write_text("{}")
        added = weight_sha256(store, folder)
        (folder / "tokenizer.json").rename(folder / "vocab.json")
        assert len({first, added, weight_sha256(store, folder)}) == 3
    finally:
        store.close()
