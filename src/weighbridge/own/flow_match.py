"""How a text-to-image transformer (FLUX.1, Stable Diffusion 3/3.5) learns a LoRA: by flow
matching, as diffusers' ``train_dreambooth_lora_flux.py`` and ``train_dreambooth_lora_sd3.py``
do it. A noise level ``sigma`` is drawn uniformly per picture, the transformer sees
``(1 - sigma) * latent + sigma * noise`` and is to predict ``noise - latent``; the two families
differ only in how latents are laid out for the transformer and what else it is told. A UNet's
training (DDPM noising) stays in :mod:`weighbridge.own.image_lora`, which uses this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from weighbridge.own import image_lora_data

#: A UNet's and FLUX's LoRA targets: every attention's projections, in FLUX not the caption's
#: ``add_*`` ones of its double blocks (kept as they were: a FLUX run's checkpoints hold these).
ATTENTION = ("to_q", "to_k", "to_v", "to_out.0")
#: SD3's, as ``train_dreambooth_lora_sd3.py`` has them: both streams of the joint attention (the
#: caption's ``add_*`` projections too), and not SD3.5 Medium's second, picture-only ``attn2``.
SD3_ATTENTION = (
    "attn.to_q",
    "attn.to_k",
    "attn.to_v",
    "attn.to_out.0",
    "attn.add_q_proj",
    "attn.add_k_proj",
    "attn.add_v_proj",
    "attn.to_add_out",
)


@dataclass(frozen=True)
class FlowMatch:
    """How a transformer learns by flow matching, as diffusers' ``train_dreambooth_lora_sd3.py``
    and ``train_dreambooth_lora_flux.py`` do it (uniform noise levels): SD3's, whose transformer
    takes latents as they are, (B, C, H, W), cuts them into patches itself, and is told the
    timestep its pipeline passes, the noise level times 1000. FLUX's is :class:`FluxFlowMatch`."""

    #: A token's side in latent pixels: training pictures are a multiple of it times the VAE's factor.
    patch: int
    #: The modules the LoRA goes on.
    targets: tuple[str, ...]

    #: Noise levels are ``t / 1000``; the eval loss spreads ``t`` over this range, as it does
    #: over the DDPM schedule's ``config``.
    config: ClassVar[Any] = SimpleNamespace(num_train_timesteps=1000)

    def pack(self, latents: torch.Tensor) -> torch.Tensor:
        """``latents`` (B, C, H, W) as the transformer takes them and gives its prediction."""
        return latents

    def inputs(self, sigmas: torch.Tensor, latents: torch.Tensor, hidden: torch.Tensor) -> dict[str, Any]:
        """What the transformer is told besides the noisy latents and the caption's states and
        pooled embedding, for latents of ``latents``' shape at noise levels ``sigmas``."""
        return {"timestep": sigmas * self.config.num_train_timesteps}


@dataclass(frozen=True)
class FluxFlowMatch(FlowMatch):
    """FLUX's: latents packed 2x2 into tokens as its pipeline packs them, their positions and the
    caption's named, and the guidance its transformer is told where it takes one."""

    pipe_type: type
    #: The guidance scale (diffusers' default) for a guidance-distilled transformer, else None.
    guidance: float | None

    def pack(self, latents: torch.Tensor) -> torch.Tensor:
        return self.pipe_type._pack_latents(latents, *latents.shape)  # type: ignore[attr-defined,no-any-return]

    def inputs(self, sigmas: torch.Tensor, latents: torch.Tensor, hidden: torch.Tensor) -> dict[str, Any]:
        size, _, height, width = latents.shape
        device = latents.device
        guidance = None if self.guidance is None else torch.full((size,), self.guidance, device=device)
        image_ids = self.pipe_type._prepare_latent_image_ids(  # type: ignore[attr-defined]
            size, height // 2, width // 2, device, latents.dtype
        )
        return {
            "timestep": sigmas,  # the transformer scales it by 1000 itself, as the pipeline's t / 1000
            "guidance": guidance,
            "txt_ids": torch.zeros(hidden.shape[1], 3, device=device, dtype=hidden.dtype),
            "img_ids": image_ids,
        }


def of(pipe: Any) -> FlowMatch | None:
    """How ``pipe``'s transformer learns: FLUX.1's or SD3's flow matching; None for another pipeline."""
    from diffusers import FluxPipeline, StableDiffusion3Pipeline

    transformer: Any = getattr(pipe, "transformer", None)
    if isinstance(pipe, FluxPipeline):
        guidance = 3.5 if transformer.config.guidance_embeds else None
        return FluxFlowMatch(2, ATTENTION, type(pipe), guidance)
    if isinstance(pipe, StableDiffusion3Pipeline):
        return FlowMatch(transformer.config.patch_size, SD3_ATTENTION)
    return None


def loss(
    transformer: Any,
    flow: FlowMatch,
    batch: list[image_lora_data.Example],
    draws: torch.Generator,
    timesteps: torch.Tensor | None,
) -> torch.Tensor:
    """The flow-matching loss of ``batch`` at noise levels ``timesteps / 1000`` (else drawn
    uniformly): the transformer sees ``(1 - sigma) * latent + sigma * noise`` and is to predict
    ``noise - latent``, both in the layout ``flow`` packs latents in."""
    latents, eps, device = image_lora_data.drawn(batch, draws)
    if timesteps is None:
        sigmas = torch.rand((len(batch),), generator=draws)
    else:
        sigmas = timesteps.float() / flow.config.num_train_timesteps
    sigmas = sigmas.to(device)
    level = sigmas.view(-1, 1, 1, 1)
    noisy = (1.0 - level) * latents + level * eps
    hidden = torch.stack([e.condition["encoder_hidden_states"] for e in batch])
    pooled = torch.stack([e.condition["pooled_projections"] for e in batch])
    predicted = transformer(
        hidden_states=flow.pack(noisy),
        encoder_hidden_states=hidden,
        pooled_projections=pooled,
        return_dict=False,
        **flow.inputs(sigmas, latents, hidden),
    )[0]
    return F.mse_loss(predicted.float(), flow.pack(eps - latents).float())
