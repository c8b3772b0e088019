"""The model a fine-tune starts from: found, identified, and loaded into transformers offline.

A base is a local GGUF (a catalog model such as the embedded ``smollm2-135m``, or a ``.gguf``
path) or a Hugging Face checkpoint directory. transformers reads a GGUF by dequantizing it,
which on two cores costs far more than the training steps of a short run, mostly in parsing
the file's 49k-token vocabulary three times over; so the first load keeps the dequantized
model as a float32 checkpoint under ``$WEIGHBRIDGE_HOME/finetune/.bases/SHA``, and every later
run (a resumed one, another fine-tune of the same base) loads that in about a second. It is
derived data: deleting it costs the next run one slow load.

Nothing is fetched: loading goes through :mod:`weighbridge.providers.hf_load`, offline, as the
transformers provider's does.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weighbridge.config import Settings
from weighbridge.errors import InvalidRequestError, ModelLoadError
from weighbridge.own import lora_data, to_gguf
from weighbridge.providers import chat_template, gguf_meta, hf_load
from weighbridge.targets import resolve
from weighbridge.weights import check_loadable


@dataclass(frozen=True)
class Base:
    """Where a base's weights are, and what the tuned model inherits from it."""

    spec: str
    #: The GGUF the tuned GGUF is written from; None for a Hugging Face checkpoint base.
    gguf: Path | None
    #: A Hugging Face checkpoint base's directory; None until a GGUF base is dequantized.
    checkpoint: Path | None
    sha256: str
    #: The catalog id, when the base has one: the tuned model inherits its entry.
    catalog_id: str | None
    #: The system prompt the catalog sends when a request has none, so training sends it too.
    system_prompt: str | None


def find(settings: Settings, spec: str, sha256: Callable[[Path], str]) -> Base:
    """The base named ``spec``; ``sha256(path)`` hashes a weight file or checkpoint folder
    (cached by the store, as :func:`weighbridge.weights.weight_sha256` does)."""
    path = Path(spec).expanduser()
    if path.is_dir():
        check_loadable(path)
        return Base(spec, None, path, sha256(path), None, None)
    target = resolve(settings, spec)
    if target.weight_file is None:
        raise InvalidRequestError(
            f"'{spec}' runs on {target.provider_name}, whose weights are not here: fine-tune a local "
            "model (a catalog id, a .gguf path or a Hugging Face checkpoint folder)"
        )
    if target.adapter is not None:
        raise InvalidRequestError(
            f"'{spec}' runs with a LoRA adapter: fine-tune its base, or the adapter merged into a checkpoint"
        )
    weights = target.weight_file
    catalog_id = spec if spec in settings.catalog.models else None
    if weights.is_dir():  # a checkpoint folder, served by transformers
        return Base(spec, None, weights, sha256(weights), catalog_id, target.entry.system_prompt)
    to_gguf.check_architecture(weights)
    return Base(spec, weights, None, sha256(weights), catalog_id, target.entry.system_prompt)


def load(settings: Settings, base: Base, seed: int) -> tuple[Any, Any]:
    """The base model in float32 and its tokenizer, from local files only."""
    hf_load.transformers_offline(threads=len(os.sched_getaffinity(0)))  # every core this process may use
    import torch

    folder = base.checkpoint or dequantized(settings, base)
    torch.manual_seed(seed)
    return hf_load.load_checkpoint(folder)


def encoder(base: Base, tokenizer: Any, max_tokens: int) -> Any:
    """Conversation -> :class:`lora_data.Encoded`, shaped as the tuned model will be prompted:
    through llama.cpp, with the GGUF's own template and the catalog's system prompt."""
    if base.gguf is not None:
        meta = gguf_meta.read_metadata(base.gguf)
        template = str(meta.get("tokenizer.chat_template") or chat_template.CHATML)
        add_bos = bool(meta.get("tokenizer.ggml.add_bos_token", True))
    else:
        template = tokenizer.chat_template or chat_template.CHATML
        add_bos = bool(getattr(tokenizer, "add_bos_token", False))
    tokenizer.chat_template = template  # saved with the merged checkpoint, for transformers
    bos_id = tokenizer.bos_token_id if add_bos else None

    def encode(messages: lora_data.Messages) -> lora_data.Encoded:
        return lora_data.encode(
            lora_data.with_system(messages, base.system_prompt),
            tokenizer,
            template,
            bos_token=tokenizer.bos_token or "",
            eos_token=tokenizer.eos_token or "",
            max_tokens=max_tokens,
            bos_id=bos_id,
        )

    return encode


def dequantized(settings: Settings, base: Base) -> Path:
    """The float32 checkpoint of a GGUF base, made on first use (atomically: a rename)."""
    assert base.gguf is not None
    folder = settings.home / "finetune" / ".bases" / base.sha256[:16]
    if (folder / "config.json").is_file():
        return folder
    import torch
    import transformers

    where = {"pretrained_model_name_or_path": str(base.gguf.parent), "gguf_file": base.gguf.name}
    try:
        # transformers draws a tqdm bar while it dequantizes, over the caller's progress display.
        with contextlib.redirect_stderr(io.StringIO()):
            tokenizer = transformers.AutoTokenizer.from_pretrained(**where, local_files_only=True)
            model = transformers.AutoModelForCausalLM.from_pretrained(
                **where, local_files_only=True, dtype=torch.float32
            )
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"transformers cannot load {base.gguf.name}: {exc}") from None
    plain(model)
    work = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(work, ignore_errors=True)
    model.save_pretrained(work, safe_serialization=True)
    tokenizer.save_pretrained(work)
    shutil.rmtree(folder, ignore_errors=True)
    work.rename(folder)
    return folder


def plain(model: Any) -> None:
    """Forget that ``model`` was read from a quantized GGUF: its weights are ordinary now, and a
    checkpoint saved with the mark would be taken for a GGUF view when loaded again."""
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config
    model.hf_quantizer = None
