"""Hugging Face checkpoint folders loaded into transformers, offline: what the transformers
provider and fine-tuning (:mod:`weighbridge.own.lora_base`) both load through.

Nothing is fetched: the hub's offline switches are set before transformers is imported, every
load is local-only, and weights are read from safetensors alone (a folder's pickled ``.bin``
files, if it has any, are never opened). torch and transformers are imported only here, when a
model loads.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from weighbridge.errors import ModelLoadError
from weighbridge.weights import check_loadable


def transformers_offline(threads: int) -> Any:
    """transformers, imported with the hub switched off and torch using ``threads`` threads."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    # torch's OpenMP threads spin while they wait for each other. With any other work on the
    # cores (measured: two threads, load average 3 on 2 cores) a spinning thread that lost its
    # core stalls the rest, and a training step took 3-14x longer than with passive waiting.
    # Read once, when torch loads its OpenMP runtime; a user's own setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch
    import transformers

    torch.set_num_threads(threads)
    transformers.utils.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    return transformers


def load_checkpoint(folder: Path, adapter: Path | None = None) -> tuple[Any, Any]:
    """The causal LM in ``folder`` in float32 and its tokenizer. With ``adapter`` (a peft LoRA
    folder), the adapter is merged into the weights: the pair then runs as fast as the base,
    and is a model of its own (loaded once per checkpoint and adapter)."""
    import torch
    import transformers

    check_loadable(folder, adapter)
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = transformers.AutoModelForCausalLM.from_pretrained(
            folder, local_files_only=True, dtype=torch.float32, use_safetensors=True
        )
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"transformers cannot load {folder}: {one_line(exc)}") from None
    if adapter is not None:
        from peft import PeftModel

        try:
            with peft_quietly():
                model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
        except (OSError, ValueError, KeyError, RuntimeError) as exc:  # RuntimeError: shapes of another base
            raise ModelLoadError(
                f"peft cannot load the adapter {adapter} on {folder}: {one_line(exc)}"
            ) from None
    return model, tokenizer


@contextlib.contextmanager
def peft_quietly() -> Iterator[None]:
    """peft asks transformers about gradient checkpointing through a deprecated name, which
    warns on every adapter it wraps; nothing for a user to act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


def one_line(exc: Exception) -> str:
    """An exception's message on one line: torch's and the hub's run over several."""
    return " ".join(str(exc).split())
