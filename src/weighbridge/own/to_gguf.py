"""A fine-tuned model as a GGUF that llama.cpp serves at full speed: the base file, re-weighted.

The base GGUF already holds everything llama.cpp needs besides the weights: architecture
settings, tokenizer, chat template. So the new file is the base copied field by field and
tensor by tensor, except the tensors LoRA changed, which are written from the merged weights
(as q8_0 by default: near-lossless, and fast on a CPU) under the base's tensor names. The
untouched tensors keep their exact bytes.

transformers un-permutes llama's query and key projections when it loads a llama GGUF (the
converter permutes them for llama.cpp's rotary layout); the merged weights are permuted back
the same way before writing. Only architectures whose loading is known to be undone here are
accepted, and that is checked before a fine-tune starts, not after it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import numpy as np

from weighbridge.errors import ModelLoadError
from weighbridge.providers import gguf_meta

OutType = Literal["q8_0", "f16"]
#: Architectures whose tensors transformers loads as stored, or with llama's permutation.
SUPPORTED = frozenset({"llama"})
_OWN_FIELDS = ("general.architecture", "general.name", "general.file_type")


def check_architecture(base: Path) -> str:
    """The base GGUF's architecture, if a merged GGUF can be written for it."""
    arch = str(gguf_meta.read_metadata(base).get("general.architecture", ""))
    if arch not in SUPPORTED:
        raise ModelLoadError(
            f"{base.name} is a '{arch}' model; a fine-tuned GGUF can be written for "
            f"{', '.join(sorted(SUPPORTED))} models only"
        )
    return arch


def write_merged(
    base: Path, out: Path, changed: dict[str, np.ndarray[Any, Any]], *, name: str, outtype: OutType
) -> None:
    """Write ``out``: ``base`` with the tensors in ``changed`` (Hugging Face names) replaced."""
    import gguf

    reader = gguf.GGUFReader(base)
    arch = str(reader.fields["general.architecture"].contents())
    replacements = _gguf_names(reader, arch, changed)
    qtype = gguf.GGMLQuantizationType.Q8_0 if outtype == "q8_0" else gguf.GGMLQuantizationType.F16
    tmp = out.with_name(out.name + ".tmp")
    writer = gguf.GGUFWriter(tmp, arch=arch, endianess=reader.endianess)
    try:
        alignment = reader.fields.get("general.alignment")
        if alignment is not None:
            writer.data_alignment = int(alignment.contents())
        for field in reader.fields.values():
            if field.name.startswith("GGUF.") or field.name in _OWN_FIELDS:
                continue
            kind = field.types[0]
            sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
            writer.add_key_value(field.name, field.contents(), kind, sub_type=sub)
        writer.add_name(name)
        writer.add_file_type(
            gguf.LlamaFileType.MOSTLY_Q8_0 if outtype == "q8_0" else gguf.LlamaFileType.MOSTLY_F16
        )
        datas = []
        for tensor in reader.tensors:
            if tensor.name in replacements:
                data = replacements[tensor.name]
                data = gguf.quants.quantize(data, qtype) if outtype == "q8_0" else data.astype(np.float16)
                writer.add_tensor_info(tensor.name, data.shape, data.dtype, data.nbytes, qtype)
            else:
                data = tensor.data
                writer.add_tensor_info(tensor.name, data.shape, data.dtype, data.nbytes, tensor.tensor_type)
            datas.append(data)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for data in datas:
            writer.write_tensor_data(data, tensor_endianess=reader.endianess)
    finally:
        writer.close()
    os.replace(tmp, out)


def _gguf_names(
    reader: Any, arch: str, changed: dict[str, np.ndarray[Any, Any]]
) -> dict[str, np.ndarray[Any, Any]]:
    """The changed tensors under their GGUF names, in llama.cpp's layout, checked against the base."""
    import gguf

    fields = reader.fields
    blocks = int(fields[f"{arch}.block_count"].contents())
    arch_id = next(key for key, value in gguf.MODEL_ARCH_NAMES.items() if value == arch)
    names = gguf.get_tensor_name_map(arch_id, blocks)
    shapes = {t.name: tuple(int(n) for n in reversed(t.shape)) for t in reader.tensors}
    heads = int(fields[f"{arch}.attention.head_count"].contents())
    kv_field = fields.get(f"{arch}.attention.head_count_kv")
    kv_heads = int(kv_field.contents()) if kv_field is not None else heads
    out = {}
    for hf_name, weights in changed.items():
        stem, _, suffix = hf_name.rpartition(".")
        found = names.get_name(stem)
        key = f"{found}.{suffix}"
        if found is None or key not in shapes:
            raise ModelLoadError(f"the merged weight {hf_name} has no tensor in the base GGUF")
        if arch == "llama" and found.endswith(".attn_q"):
            weights = _permute(weights, heads)
        elif arch == "llama" and found.endswith(".attn_k"):
            weights = _permute(weights, kv_heads)
        if weights.shape != shapes[key]:
            raise ModelLoadError(
                f"the merged weight {hf_name} is {weights.shape}; the base's {key} is {shapes[key]}"
            )
        out[key] = np.ascontiguousarray(weights, dtype=np.float32)
    return out


def _permute(weights: np.ndarray[Any, Any], heads: int) -> np.ndarray[Any, Any]:
    """Hugging Face's rotary layout to llama.cpp's: the inverse of what transformers undid."""
    rows = weights.shape[0]
    return (
        weights.reshape(heads, 2, rows // heads // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )
