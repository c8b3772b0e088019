"""LoRA fine-tuning of a local model on examples that never leave the machine.

The base (:mod:`weighbridge.own.lora_base`: a GGUF, dequantized by transformers, or a
Hugging Face checkpoint) gets a LoRA adapter (peft) trained on the assistant turns of the
examples (:mod:`~weighbridge.own.lora_data`, :mod:`~weighbridge.own.lora_train`), which is
then merged into it (:mod:`~weighbridge.own.lora_export`). Everything lands in
``$WEIGHBRIDGE_HOME/finetune/NAME``: ``checkpoints/`` (an interrupted run resumes from them),
``adapter/``, ``merged/`` (for transformers) and, for a GGUF base, ``NAME.gguf``, which is
registered as the catalog model NAME and runs through llama.cpp like the model it came from.
``run.json`` records the hashes of the adapter, the GGUF, the base and the data, and the losses.

torch, transformers and peft are imported only when a fine-tune runs.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from weighbridge.config import Settings
from weighbridge.errors import InvalidRequestError
from weighbridge.own import lora_base, lora_data, to_gguf
from weighbridge.own.registry import register_local_model, registration
from weighbridge.providers import hf_load

if TYPE_CHECKING:
    from weighbridge.own.lora_train import Progress


@dataclass(frozen=True)
class FinetuneOptions:
    """The knobs of a run. Those that shape the weights are part of its checkpoints' fingerprint."""

    epochs: float = 2.0
    lr: float = 1e-3
    rank: int = 8
    alpha: int | None = None
    dropout: float = 0.05
    batch_size: int = 8
    max_steps: int | None = None
    max_tokens: int = 512
    seed: int = 0
    checkpoint_every: int = 50
    gguf_type: to_gguf.OutType = "q8_0"

    def check(self) -> None:
        if self.epochs <= 0 or self.lr <= 0 or self.rank < 1 or self.batch_size < 1 or self.max_tokens < 2:
            raise InvalidRequestError("epochs, lr, rank, batch size and max tokens must be positive")
        if (self.max_steps is not None and self.max_steps < 1) or self.checkpoint_every < 1:
            raise InvalidRequestError("max steps and the checkpoint interval must be at least 1")


@dataclass(frozen=True)
class FinetuneResult:
    name: str
    folder: Path
    #: The registered GGUF; None for a Hugging Face checkpoint base (merged/ is the result then).
    gguf: Path | None
    gguf_sha256: str | None
    adapter_sha256: str
    merged: Path
    steps: int
    resumed_from: int
    train_loss: float | None
    eval_loss_base: float | None
    eval_loss: float | None
    seconds: float
    losses: list[float] = field(default_factory=list, repr=False)


def finetune(
    settings: Settings,
    base: str,
    data: Path,
    name: str,
    *,
    eval_data: Path | None = None,
    options: FinetuneOptions | None = None,
    resume: bool = True,
    progress: Progress | None = None,
) -> FinetuneResult:
    """Fine-tune ``base`` on the JSONL ``data``; a GGUF base's result becomes catalog model ``name``."""
    began = time.perf_counter()
    options = options or FinetuneOptions()
    options.check()
    check_name(settings, name)
    train_rows = lora_data.read_examples(data)
    eval_rows = lora_data.read_examples(eval_data) if eval_data is not None else []
    found = lora_base.find(settings, base, lambda path: file_sha256(settings, path))
    folder = settings.home / "finetune" / name
    if not resume:
        shutil.rmtree(folder / "checkpoints", ignore_errors=True)

    from weighbridge.own import lora_export, lora_train

    progress = progress or lora_train.Quiet()
    progress.phase(f"loading {base}")
    model, tokenizer = lora_base.load(settings, found, options.seed)
    encode = lora_base.encoder(found, tokenizer, options.max_tokens)
    train_set = [e for e in map(encode, train_rows) if e.target_tokens > 1]
    eval_set = [e for e in map(encode, eval_rows) if e.target_tokens > 1]
    if not train_set:
        raise InvalidRequestError(f"{data}: no example has an answer within {options.max_tokens} tokens")
    model = _with_lora(model, options)
    device = training_device()
    model.to(device)

    eval_base = lora_train.mean_loss(model, eval_set, options.batch_size, device) if eval_set else None
    total = lora_train.plan_steps(len(train_set), options.batch_size, options.epochs, options.max_steps)
    plan = lora_train.Plan(
        total_steps=total,
        batch_size=options.batch_size,
        lr=options.lr,
        seed=options.seed,
        checkpoint_every=options.checkpoint_every,
        warmup_steps=min(10, total // 10),
    )
    data_sha = hashlib.sha256(data.read_bytes()).hexdigest()
    resumed_from, losses = lora_train.train(
        model,
        train_set,
        plan,
        checkpoints=folder / "checkpoints",
        fingerprint=_fingerprint(found.sha256, data_sha, options, total),
        progress=progress,
        device=device,
    )
    eval_loss = lora_train.mean_loss(model, eval_set, options.batch_size, device) if eval_set else None

    progress.phase("merging the adapter" + (" and writing the GGUF" if found.gguf else ""))
    model.to("cpu")
    gguf_file = folder / f"{name}.gguf"
    adapter_dir, merged_dir = folder / "adapter", folder / "merged"
    lora_export.export(
        model,
        tokenizer,
        adapter_dir=adapter_dir,
        merged_dir=merged_dir,
        base_gguf=found.gguf,
        gguf_file=gguf_file,
        name=name,
        outtype=options.gguf_type,
    )
    adapter_sha = file_sha256(settings, adapter_dir / lora_export.ADAPTER_FILE)
    gguf_sha = None
    if found.gguf is not None:
        gguf_sha = file_sha256(settings, gguf_file)
        register_local_model(
            settings.home,
            name,
            gguf_file,
            catalog=settings.catalog,
            base=found.catalog_id,
            description=f"LoRA fine-tune (rank {options.rank}, {total} steps) of {base} on {data.name}",
            sha256=gguf_sha,
            extra={
                "adapter_sha256": adapter_sha,
                "adapter": str(adapter_dir),
                "hf_checkpoint": str(merged_dir),
                "base_sha256": found.sha256,
                "data_sha256": data_sha,
            },
        )
    tail = losses[-10:]
    result = FinetuneResult(
        name=name,
        folder=folder,
        gguf=gguf_file if gguf_sha else None,
        gguf_sha256=gguf_sha,
        adapter_sha256=adapter_sha,
        merged=merged_dir,
        steps=total,
        resumed_from=resumed_from,
        train_loss=sum(tail) / len(tail) if tail else None,
        eval_loss_base=eval_base,
        eval_loss=eval_loss,
        seconds=time.perf_counter() - began,
        losses=losses,
    )
    _write_manifest(result, base=base, data=data, options=options, base_sha=found.sha256, data_sha=data_sha)
    return result


def training_device() -> Any:
    """The GPU when there is one: the same run, unchanged, is then just faster."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def check_name(settings: Settings, name: str) -> None:
    """Refuse a bad NAME before minutes of training rather than after them."""
    if not name or name.startswith(".") or "/" in name or name != name.strip() or name.endswith(".gguf"):
        raise InvalidRequestError(f"'{name}' cannot name a model: use letters, digits, '-', '_' or '.'")
    if name in settings.catalog.models and registration(settings.home, name) is None:
        raise InvalidRequestError(f"'{name}' is already a catalog model: give the fine-tune another name")


def _with_lora(model: Any, options: FinetuneOptions) -> Any:
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=options.rank,
        lora_alpha=options.alpha if options.alpha is not None else 2 * options.rank,
        lora_dropout=options.dropout,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )
    with hf_load.peft_quietly():
        return get_peft_model(model, config)


def file_sha256(settings: Settings, path: Path) -> str:
    from weighbridge.weights import weight_sha256

    store = settings.open_store()
    try:
        return weight_sha256(store, path)
    finally:
        store.close()


def _fingerprint(base_sha: str, data_sha: str, options: FinetuneOptions, total_steps: int) -> str:
    shaping = {k: v for k, v in asdict(options).items() if k not in ("checkpoint_every", "gguf_type")}
    text = json.dumps({"base": base_sha, "data": data_sha, "steps": total_steps, **shaping}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _write_manifest(
    result: FinetuneResult, *, base: str, data: Path, options: FinetuneOptions, base_sha: str, data_sha: str
) -> None:
    manifest = {
        "name": result.name,
        "base": base,
        "base_sha256": base_sha,
        "data": str(data),
        "data_sha256": data_sha,
        "options": asdict(options),
        "steps": result.steps,
        "resumed_from": result.resumed_from,
        "gguf": str(result.gguf) if result.gguf else None,
        "gguf_sha256": result.gguf_sha256,
        "adapter_sha256": result.adapter_sha256,
        "hf_checkpoint": str(result.merged),
        "train_loss": result.train_loss,
        "eval_loss_base": result.eval_loss_base,
        "eval_loss": result.eval_loss,
        "seconds": round(result.seconds, 1),
        "losses": [round(x, 4) for x in result.losses],
    }
    (result.folder / "run.json").write_text(json.dumps(manifest, indent=2), "utf-8")
