"""A loaded diffusers pipeline and how an image request becomes calls to it, by rules read
from the pipeline itself (its call's signature, its VAE, its denoiser) rather than from a list
of model families:

* **size**: ``WIDTHxHEIGHT``, each side a multiple of the pipeline's step, from one step up to
  twice its default side. The step is the VAE's scale factor (8 for SD, SDXL, FLUX and SD3),
  doubled where the denoiser is a transformer (SD3's 2x2 latent patches, FLUX's 2x2 packing),
  and never under 8 (the SD pipelines check 8 whatever their VAE). ``auto`` or none: the
  default, the denoiser's sample size times the VAE's factor (512 for SD 1.x, 768 for SD 2.x,
  1024 for SDXL, FLUX and SD3).
* **steps**: the request's; else from ``quality``: ``low`` a quarter of the default (at least
  one), ``medium``/``standard``/``auto`` the default, ``high``/``hd`` twice it; else the default,
  the pipeline call's own ``num_inference_steps`` (50 for SD and SDXL, 28 for FLUX and SD3).
  A distilled few-step model (SD-Turbo, SDXL-Turbo, FLUX.1 schnell) ships the same pipeline
  class and configs as its base, so nothing in its folder says so: its catalog entry's
  ``defaults`` give it 1-4 steps.
* **seed**: the request's, else one drawn and reported. Picture ``i`` of ``n`` is drawn from
  ``seed + i`` in a call of its own, so each can be made again alone (asked with ``n = 1`` and
  that seed), byte for byte: a batch computes in other kernels, and rounds differently (in
  half precision visibly so).
* **knobs**: ``negative_prompt`` and ``guidance`` go to a pipeline whose call takes them
  (``negative_prompt``, ``guidance_scale``); asked of one that does not, they are refused,
  never ignored.
"""

from __future__ import annotations

import inspect
import io
import math
import secrets
from pathlib import Path
from typing import Any

from weighbridge.errors import InvalidRequestError, ModelLoadError
from weighbridge.types import GeneratedImage, ImageQuality, ImageRequest, Images, Usage

#: What a pipeline's call must take to make pictures from a prompt at a size, reproducibly.
_NEEDED = ("prompt", "height", "width", "num_inference_steps", "num_images_per_prompt", "generator")
#: Request fields a pipeline's call may lack, by the parameter that takes each.
_KNOBS = {"negative_prompt": "negative_prompt", "guidance": "guidance_scale"}
#: Steps at each quality, as a share of the pipeline's default.
_QUALITY_SHARE: dict[ImageQuality, float] = {
    "low": 0.25,
    "medium": 1,
    "standard": 1,
    "auto": 1,
    "high": 2,
    "hd": 2,
}
_PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


class Pipeline:
    """A text-to-image pipeline on its device, with the sizes and steps it takes."""

    def __init__(self, pipe: Any, device: str, folder: Path) -> None:
        self.pipe, self.device = pipe, device
        self.name = type(pipe).__name__
        params = inspect.signature(pipe.__call__).parameters
        default_steps = params["num_inference_steps"].default if "num_inference_steps" in params else None
        missing = [name for name in _NEEDED if name not in params]
        transformer = getattr(pipe, "transformer", None)
        denoiser = transformer if transformer is not None else getattr(pipe, "unet", None)
        sample = getattr(pipe, "default_sample_size", None) or getattr(
            getattr(denoiser, "config", None), "sample_size", None
        )
        if missing or not isinstance(default_steps, int) or sample is None:
            raise ModelLoadError(
                f"{folder} holds a {self.name}, which is not a text-to-image pipeline weighbridge can "
                f"drive: its call needs {', '.join(_NEEDED)} with a default number of steps, and a "
                "denoiser with a sample size"
            )
        self.default_steps: int = default_steps
        self._knobs = {field for field, param in _KNOBS.items() if param in params}
        # FLUX takes a negative prompt but uses it only under "true" guidance (true_cfg_scale > 1,
        # twice the work per step), which is not turned on here: taken, it would be ignored.
        if "true_cfg_scale" in params:
            self._knobs.discard("negative_prompt")
        vae = int(getattr(pipe, "vae_scale_factor", 8))
        self.step = math.lcm(8, vae * (1 if transformer is None else 2))
        height, width = (sample, sample) if isinstance(sample, int) else sample
        self.default_size = (int(width) * vae, int(height) * vae)

    def generate(self, request: ImageRequest) -> Images:
        """The pictures ``request`` asks for, encoded, with the seed, steps and size that make
        them again."""
        import torch

        width, height = self.size(request)
        steps = self.steps(request)
        seed = request.seed if request.seed is not None else secrets.randbelow(2**32)
        knobs = self.knobs(request)
        pictures = []
        for i in range(request.n):  # one at a time: picture i is exactly seed + i's picture alone
            generator = torch.Generator(self.device).manual_seed((seed + i) % 2**32)
            with torch.inference_mode():
                out = self.pipe(
                    prompt=request.prompt,
                    height=height,
                    width=width,
                    num_inference_steps=steps,
                    generator=generator,
                    output_type="pil",
                    **knobs,
                )
            data = _encoded(out.images[0], request.output_format)
            pictures.append(GeneratedImage(data=data, format=request.output_format))
        return Images(images=pictures, usage=Usage(), seed=seed, steps=steps, size=f"{width}x{height}")

    def size(self, request: ImageRequest) -> tuple[int, int]:
        """(width, height): the request's, if this pipeline makes that size, else the default."""
        asked = request.dimensions()
        if asked is None:
            return self.default_size
        largest = 2 * max(self.default_size)
        if all(side % self.step == 0 and side <= largest for side in asked):
            return asked
        raise InvalidRequestError(
            f"size {request.size} does not work with this model ({self.name}): width and height must "
            f"be multiples of {self.step} from {self.step} to {largest} "
            f"(its default is {self.default_size[0]}x{self.default_size[1]})"
        )

    def steps(self, request: ImageRequest) -> int:
        if request.steps is not None:
            return request.steps
        if request.quality is not None:
            return max(1, round(self.default_steps * _QUALITY_SHARE[request.quality]))
        return self.default_steps

    def knobs(self, request: ImageRequest) -> dict[str, Any]:
        """The optional arguments ``request`` sets, by the pipeline's names for them; a knob the
        pipeline lacks is refused by the request's name for it."""
        asked = {field for field in _KNOBS if getattr(request, field) is not None}
        if lacking := sorted(asked - self._knobs):
            raise InvalidRequestError(
                f"this model ({self.name}) takes no {' or '.join(lacking)}: leave it out of the request"
            )
        return {_KNOBS[field]: getattr(request, field) for field in asked}


def _encoded(image: Any, output_format: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=_PIL_FORMATS[output_format])
    return buffer.getvalue()
