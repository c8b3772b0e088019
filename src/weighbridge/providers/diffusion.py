"""Text-to-image pipelines in-process through diffusers, from a local folder in the diffusers
layout (``model_index.json`` and a subfolder per component, weights in safetensors): whatever
pipeline class the folder names (SD 1.x/2.x, SDXL and their Turbo models, FLUX.1, SD3), with
an optional diffusers LoRA fused into its weights. The same code runs on a GPU and on the CPU,
in the number type each computes fastest (:func:`pipeline_dtype`): on a GPU bfloat16 where it
has it, else float16; on a CPU bfloat16 where its instructions compute it (x86's AVX512-BF16
or AMX: 1.8 to 2.4 times float32's pictures per second with SD 1.5, ``bench/image_engines.py``),
else float32. ``$WEIGHBRIDGE_IMAGE_DTYPE`` (``float32``, ``bfloat16``, ``float16``) overrides
it: float32 makes the same picture from a seed on every machine, each faster type on machines
alike.

A model's upstream is its pipeline folder (``file`` in a serve entry) and its adapter the
entry's ``adapter``; both are pinned like any local weights (:mod:`weighbridge.weights`). Each
pair is loaded once per process, on a thread of its own that then makes every call to it
(:mod:`weighbridge.providers.resident`): concurrent requests wait their turn there. They are
not batched: a batch computes in other kernels than one picture alone, and the same seed would
then not always give the same picture. A provider holds the pipelines it used until it closes;
the last holder to close frees one and ends its thread. How a request becomes a call to the
pipeline is :mod:`weighbridge.providers.diffusion_pipeline`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from weighbridge.capabilities import Capabilities
from weighbridge.errors import ConfigError, ModelLoadError
from weighbridge.providers import hf_load
from weighbridge.providers.diffusion_pipeline import Pipeline
from weighbridge.providers.images import not_for_chat
from weighbridge.providers.resident import Key, Residents, torch_threads
from weighbridge.targets import Target
from weighbridge.types import ChatRequest, Completion, ImageRequest, Images, StreamChunk
from weighbridge.weights import check_loadable

if TYPE_CHECKING:
    import torch

#: The number types ``$WEIGHBRIDGE_IMAGE_DTYPE`` may name.
_DTYPES = ("float32", "bfloat16", "float16")


def load_pipeline(folder: Path, adapter: Path | None = None) -> Pipeline:
    """The pipeline in ``folder`` on the GPU if there is one, else the CPU; with ``adapter`` (a
    diffusers LoRA folder or file) fused into its weights, so the pair runs as fast as the base
    and is a model of its own."""
    check_loadable(folder, adapter)
    hf_load.transformers_offline(torch_threads())
    import diffusers
    import torch

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = pipeline_dtype(device)
    try:
        pipe = diffusers.DiffusionPipeline.from_pretrained(  # type: ignore[no-untyped-call]
            folder, use_safetensors=True, local_files_only=True, dtype=dtype
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelLoadError(f"diffusers cannot load {folder}: {hf_load.one_line(exc)}") from None
    if adapter is not None:
        lora = adapter if adapter.is_dir() else adapter.parent
        name = None if adapter.is_dir() else adapter.name
        try:
            pipe.load_lora_weights(lora, weight_name=name, use_safetensors=True)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:  # RuntimeError: shapes of another base
            raise ModelLoadError(
                f"diffusers cannot load the LoRA {adapter} on {folder}: {hf_load.one_line(exc)}"
            ) from None
        pipe.fuse_lora()
        pipe.unload_lora_weights()  # the LoRA layers go; what they added stays in the weights
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return Pipeline(pipe, device, folder)


def pipeline_dtype(device: str) -> torch.dtype:
    """The number type pipelines compute in on ``device``: ``$WEIGHBRIDGE_IMAGE_DTYPE``, else the
    fastest one it computes natively (half precision costs diffusion models no visible quality,
    and diffusers runs them so on GPUs)."""
    import torch

    asked = os.environ.get("WEIGHBRIDGE_IMAGE_DTYPE", "auto")
    if asked in _DTYPES:
        return getattr(torch, asked)  # type: ignore[no-any-return]
    if asked != "auto":
        raise ConfigError(f"WEIGHBRIDGE_IMAGE_DTYPE={asked}: give auto, {', '.join(_DTYPES)}")
    if device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if _cpu_computes_bfloat16() else torch.float32


def _cpu_computes_bfloat16() -> bool:
    """Whether this x86 CPU has bfloat16 instructions (elsewhere, or unknown: no, since bfloat16
    emulated in float32 is slower than float32 itself)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            flags = next((line for line in info if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


_PIPELINES = Residents("diffusers", load_pipeline)


class DiffusersProvider:
    #: One pipeline makes one request's pictures at a time; LoRA adapters fuse into a pipeline.
    capabilities = Capabilities(
        weights="file", operations=frozenset({"images"}), concurrency=1, adapters=True
    )

    def __init__(self, http: httpx.AsyncClient | None = None) -> None:
        del http  # runs in-process; nothing to send
        self._held: set[Key] = set()

    async def generate_images(self, target: Target, request: ImageRequest) -> Images:
        return await _PIPELINES.get(target, self._held).run(lambda pipeline: pipeline.generate(request))

    async def complete(self, target: Target, request: ChatRequest) -> Completion:
        raise not_for_chat(target.model_id)

    def stream(self, target: Target, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        raise not_for_chat(target.model_id)

    async def aclose(self) -> None:
        """Let go of the pipelines this provider used: each nobody else holds is freed."""
        used = bool(self._held)
        await _PIPELINES.release(self._held)
        if used:
            _empty_gpu_cache()


def _empty_gpu_cache() -> None:
    """Hand the GPU memory torch keeps cached for reuse back to the device, for other processes."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
