"""A trained adapter, kept three ways: as itself, merged into a checkpoint, and as a GGUF.

The adapter (``adapter/``, peft's format) is small and reloadable onto the base; the merged
checkpoint (``merged/``, bfloat16 safetensors with the tokenizer and chat template) runs
through transformers with no peft; the GGUF runs through llama.cpp at full speed. The GGUF is
the base's GGUF with the tensors LoRA touched rewritten (:mod:`weighbridge.own.to_gguf`), so
it exists only for a GGUF base.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from weighbridge.own import lora_base, to_gguf

ADAPTER_FILE = "adapter_model.safetensors"


def export(
    model: Any,
    tokenizer: Any,
    *,
    adapter_dir: Path,
    merged_dir: Path,
    base_gguf: Path | None,
    gguf_file: Path,
    name: str,
    outtype: to_gguf.OutType,
) -> None:
    """Save the adapter, merge it into the base, write the GGUF (for a GGUF base) and the checkpoint."""
    import torch
    from peft.tuners.lora import LoraLayer

    shutil.rmtree(adapter_dir, ignore_errors=True)
    model.save_pretrained(adapter_dir, safe_serialization=True, save_embedding_layers=False)
    prefix = "base_model.model."
    wrapped = [n.removeprefix(prefix) for n, m in model.named_modules() if isinstance(m, LoraLayer)]
    merged = model.merge_and_unload()
    if base_gguf is not None:
        params = dict(merged.named_parameters())
        changed = {f"{n}.weight": params[f"{n}.weight"].detach().numpy() for n in wrapped}
        to_gguf.write_merged(base_gguf, gguf_file, changed, name=name, outtype=outtype)
    lora_base.plain(merged)
    merged.to(torch.bfloat16)
    shutil.rmtree(merged_dir, ignore_errors=True)
    merged.save_pretrained(merged_dir, safe_serialization=True)
    tokenizer.save_pretrained(merged_dir)
