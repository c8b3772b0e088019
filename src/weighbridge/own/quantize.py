"""Quantize a local GGUF with llama.cpp, measure what changed, and register the result.

The output goes to ``$WEIGHBRIDGE_HOME/models/NAME.gguf`` and becomes the catalog model NAME
(its base's licence and system prompt carried over), so it runs, pins and drifts like any
other. Size, decode speed and perplexity are measured the same way on both files
(:mod:`weighbridge.own.measure`), which is the only honest way to show the trade.

Quantizing a file that is already quantized (the embedded model is Q4_1) works only with
llama.cpp's ``allow_requantize``, and it compounds two roundings: the result is worse than the
same type made from the f16/bf16 original, and the report says so.
"""

from __future__ import annotations

import ctypes
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from weighbridge.config import Settings
from weighbridge.errors import InvalidRequestError, ModelLoadError
from weighbridge.own.measure import Measurement, heldout_text, measure, threads_to_use
from weighbridge.own.registry import register_local_model
from weighbridge.providers.gguf_meta import read_metadata
from weighbridge.store import Store
from weighbridge.targets import resolve
from weighbridge.weights import pinned_sha256, weight_sha256

#: The types llama.cpp makes without an importance matrix (the IQ1-IQ3 types need one).
TYPES = (
    "f16", "bf16", "q8_0", "q6_k", "q5_k_m", "q5_k_s", "q5_1", "q5_0", "q4_k_m", "q4_k_s",
    "q4_1", "q4_0", "q3_k_l", "q3_k_m", "q3_k_s", "q2_k", "iq4_nl", "iq4_xs",
)  # fmt: skip
#: GGUF ``general.file_type`` values of unquantized files (F32, F16, BF16).
_UNQUANTIZED = {0, 1, 32}


@dataclass(frozen=True)
class Quantized:
    name: str
    path: Path
    qtype: str
    source: str
    source_type: str
    requantized: bool
    before: Measurement
    after: Measurement
    sha256: str


def quantize_model(
    settings: Settings,
    store: Store,
    model: str,
    qtype: str,
    *,
    name: str | None = None,
    text: Path | None = None,
    n_ctx: int = 512,
) -> Quantized:
    """Quantize ``model``'s GGUF to ``qtype``, measure both, and register the result as NAME."""
    qtype = _checked(qtype)
    target = resolve(settings, model)
    source = target.weight_file
    if source is None:
        raise InvalidRequestError(f"'{model}' is not a local weight file: only local GGUF models quantize")
    source_sha = pinned_sha256(store, model, source)  # a tampered or unpinned-changed file stops here
    if source.suffix.lower() != ".gguf":
        raise InvalidRequestError(f"{source} is not a GGUF file: llama.cpp quantizes GGUF only")
    name = name or f"{Path(model).stem if model.endswith('.gguf') else model}-{qtype}"
    out = settings.home / "models" / f"{name}.gguf"
    if out.resolve() == source.resolve():
        raise InvalidRequestError(f"'{name}' would overwrite its own source; pick another --name")
    sample = heldout_text(text)
    file_type = int(read_metadata(source).get("general.file_type", 0))
    requantized = file_type not in _UNQUANTIZED

    before = measure(source, sample, n_ctx=n_ctx)
    quantize_file(source, out, qtype, requantize=requantized)
    after = measure(out, sample, n_ctx=n_ctx)
    sha = weight_sha256(store, out)
    source_type = _type_name(file_type)
    base = model if model in settings.catalog.models else None
    register_local_model(
        settings.home,
        name,
        out,
        catalog=settings.catalog,
        base=base,
        description=f"{model} quantized from {source_type} to {qtype} by llama.cpp",
        sha256=sha,
        extra={
            "quantization": qtype,
            "source": str(source),
            "source_sha256": source_sha,
            "perplexity_before": f"{before.perplexity:.4f}",
            "perplexity_after": f"{after.perplexity:.4f}",
        },
    )
    return Quantized(name, out, qtype, model, source_type, requantized, before, after, sha)


def quantize_file(source: Path, out: Path, qtype: str, *, requantize: bool) -> None:
    """Only the conversion: ``source`` GGUF to ``out`` as ``qtype``, written whole or not at all."""
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{_checked(qtype).upper()}")
    params.nthread = threads_to_use()
    params.allow_requantize = requantize
    logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)  # not a line per tensor
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")  # never a half-written NAME.gguf
    status = llama_cpp.llama_model_quantize(bytes(source), bytes(partial), ctypes.byref(params))
    if status != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        raise ModelLoadError(f"llama.cpp could not quantize {source} to {qtype} (status {status})")
    os.replace(partial, out)


def _checked(qtype: str) -> str:
    if qtype.lower() not in TYPES:
        raise InvalidRequestError(f"unknown quantization type '{qtype}'; choose one of {', '.join(TYPES)}")
    return qtype.lower()


def _type_name(file_type: int) -> str:
    """GGUF's ``general.file_type`` number as llama.cpp names it (``Q4_1``)."""
    import llama_cpp

    for attr in dir(llama_cpp):
        if attr.startswith("LLAMA_FTYPE_") and getattr(llama_cpp, attr) == file_type:
            return attr.removeprefix("LLAMA_FTYPE_").removeprefix("MOSTLY_").removeprefix("ALL_")
    return f"type {file_type}"
