"""The pictures an image LoRA learns from, each with its caption: read, cut to the training
size and encoded by the pipeline's frozen VAE and text encoder(s), once per run.

Two layouts are read, the two people already keep their pictures in: a caption file
``NAME.txt`` beside each ``NAME.png`` (``.jpg``, ``.jpeg``, ``.webp``), or a ``metadata.jsonl``
of ``{"file_name", "text"}`` rows (Hugging Face's ``imagefolder``); where both name a
picture's caption, ``metadata.jsonl`` wins. A picture without a caption is refused by name
before anything loads: a fine-tune on an empty caption would teach the model to draw it for
any prompt.

A picture is scaled so its shorter side is the training size and its middle square cut out,
as diffusers' own training scripts do; where the square sat in the scaled picture is kept,
because SDXL is told its crop (its UNet's ``time_ids``). FLUX's transformer is conditioned on
T5's states of the caption and CLIP's pooled embedding; SD3's on its two CLIPs' states and
T5's, one sequence, and both CLIPs' pooled embeddings side by side, as its ``encode_prompt``
joins them. Latents are shifted and scaled as the pipeline's VAE says (FLUX's and SD3's shift
them; SD's have no shift).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from weighbridge.errors import InvalidRequestError

if TYPE_CHECKING:
    import torch

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
METADATA = "metadata.jsonl"


@dataclass(frozen=True)
class Captioned:
    path: Path
    caption: str


@dataclass(frozen=True)
class Cut:
    """A picture as the VAE takes it, and the crop SDXL's UNet is told about."""

    #: float32, (3, side, side), in [-1, 1].
    pixels: torch.Tensor
    original_size: tuple[int, int]
    crop_top_left: tuple[int, int]


@dataclass(frozen=True)
class Example:
    """A picture and its caption as the denoiser's training needs them, on the training device."""

    #: The mean and spread of the picture's latent, shifted and scaled as the denoiser sees latents.
    latent_mean: torch.Tensor
    latent_std: torch.Tensor
    #: The denoiser's conditioning: ``encoder_hidden_states``; for SDXL its added embeddings,
    #: for a transformer (FLUX, SD3) ``pooled_projections``.
    condition: dict[str, torch.Tensor]


def read_folder(folder: Path) -> list[Captioned]:
    """The captioned pictures of ``folder``, by name."""
    captions = _metadata(folder)
    pictures = {p.name: p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES}
    for name in captions:
        if name not in pictures:
            path = folder / name
            if not path.is_file():
                raise InvalidRequestError(f"{folder / METADATA} names {name}, which is not in {folder}")
            pictures[name] = path
    if not pictures:
        raise InvalidRequestError(f"{folder}: no pictures to learn from (.png, .jpg, .jpeg or .webp)")
    found = []
    for name, path in sorted(pictures.items()):
        beside = path.with_suffix(".txt")
        text = captions.get(name) or (beside.read_text("utf-8").strip() if beside.is_file() else "")
        if not text:
            raise InvalidRequestError(
                f"{path} has no caption: write it to {beside.name} beside it, or as "
                f'{{"file_name": "{name}", "text": "..."}} in {METADATA}'
            )
        found.append(Captioned(path, text))
    return found


def data_sha256(items: list[Captioned]) -> str:
    """Names the training set: each picture's bytes and caption, so changing either starts afresh."""
    digest = hashlib.sha256()
    for item in items:
        digest.update(hashlib.sha256(item.path.read_bytes()).digest())
        digest.update(item.caption.encode() + b"\0")
    return digest.hexdigest()


def cut(path: Path, side: int) -> Cut:
    """``path`` scaled so its shorter side is ``side``, its middle ``side`` square cut out."""
    import numpy as np
    import torch
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            picture = opened.convert("RGB")
    except (OSError, UnidentifiedImageError) as exc:
        raise InvalidRequestError(f"{path}: not a picture Pillow can read ({exc})") from None
    width, height = picture.size
    scale = side / min(width, height)
    scaled = (max(side, round(width * scale)), max(side, round(height * scale)))
    picture = picture.resize(scaled, Image.Resampling.BILINEAR)
    left, top = (scaled[0] - side) // 2, (scaled[1] - side) // 2
    picture = picture.crop((left, top, left + side, top + side))
    pixels = torch.from_numpy(np.asarray(picture, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1)
    return Cut(pixels.contiguous(), (height, width), (top, left))


def encode(pipe: Any, item: Captioned, side: int, device: torch.device) -> Example:
    """``item`` through ``pipe``'s VAE (cut to ``side``) and text encoder(s)."""
    import torch

    picture = cut(item.path, side)
    config = pipe.vae.config
    shift, scale = getattr(config, "shift_factor", None) or 0.0, config.scaling_factor
    with torch.no_grad():
        latent = pipe.vae.encode(picture.pixels[None].to(device)).latent_dist
        condition = _condition(pipe, item.caption, picture, side, device)
    return Example((latent.mean[0] - shift) * scale, latent.std[0] * scale, condition)


def _condition(
    pipe: Any, caption: str, picture: Cut, side: int, device: torch.device
) -> dict[str, torch.Tensor]:
    """What ``pipe``'s denoiser is told of ``caption`` (and for SDXL of ``picture``'s crop): what
    its pipeline passes it for that prompt, without classifier-free guidance's empty prompt."""
    import torch

    if getattr(pipe, "unet", None) is not None:
        encoded = pipe.encode_prompt(
            prompt=[caption], device=device, num_images_per_prompt=1, do_classifier_free_guidance=False
        )
        condition = {"encoder_hidden_states": encoded[0][0]}
        if pipe.unet.config.addition_embed_type == "text_time":  # SDXL: the pooled text and the crop
            ids = (*picture.original_size, *picture.crop_top_left, side, side)
            condition |= {
                "text_embeds": encoded[2][0],
                "time_ids": torch.tensor(ids, dtype=torch.float32, device=device),
            }
        return condition
    if hasattr(pipe, "text_encoder_3"):  # SD3: the CLIPs' and T5's states; both CLIPs' pooled
        states, _, pooled, _ = pipe.encode_prompt(
            prompt=[caption], prompt_2=None, prompt_3=None, device=device, do_classifier_free_guidance=False
        )
    else:  # FLUX: T5's states, and CLIP's pooled
        states, pooled, _ = pipe.encode_prompt(prompt=[caption], prompt_2=None, device=device)
    return {"encoder_hidden_states": states[0], "pooled_projections": pooled[0]}


def _metadata(folder: Path) -> dict[str, str]:
    path = folder / METADATA
    if not path.is_file():
        return {}
    captions = {}
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            row = None
        if (
            not isinstance(row, dict)
            or not isinstance(row.get("file_name"), str)
            or not isinstance(row.get("text"), str)
        ):
            raise InvalidRequestError(f'{path}:{number}: give {{"file_name": ..., "text": ...}}, as strings')
        captions[row["file_name"]] = row["text"].strip()
    return captions


def drawn(batch: list[Example], draws: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, Any]:
    """The batch's latents sampled from their encoded distributions, the noise to add, both
    drawn from ``draws`` in that order (so a run repeats), and the device they are on."""
    import torch

    device = batch[0].latent_mean.device
    mean = torch.stack([e.latent_mean for e in batch])
    std = torch.stack([e.latent_std for e in batch])
    latents = mean + std * torch.randn(mean.shape, generator=draws).to(device)
    eps = torch.randn(mean.shape, generator=draws).to(device)
    return latents, eps, device
