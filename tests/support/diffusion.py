"""Tiny diffusers pipelines built from configs, nothing fetched: a Stable Diffusion 1.x
layout (UNet, VAE, CLIP text encoder and tokenizer, scheduler), a FLUX.1 one and a Stable
Diffusion 3 one, with random weights, small enough to make a picture in a few hundredths of a second on a CPU, for the diffusers provider's
tests and bench/images.py. torch is seeded before each part is made, so the same arguments
write the same files (and the folder the same sha256) every time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def tiny_sd_pipeline(folder: Path, *, side: int = 32, channels: tuple[int, int] = (32, 64)) -> Path:
    """A Stable Diffusion 1.x pipeline folder whose default pictures are ``side`` pixels square
    (its VAE halves each side: a latent of ``side / 2``), with ``channels`` in its UNet's and
    VAE's two blocks, saved in safetensors under ``folder``."""
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, UNet2DConditionModel

    torch.manual_seed(0)
    tokenizer = byte_tokenizer(folder.parent / f"{folder.name}-tokenizer")
    unet = UNet2DConditionModel(
        sample_size=side // 2,
        block_out_channels=channels,
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=4,
        norm_num_groups=8,
    )
    vae = AutoencoderKL(
        sample_size=side,
        block_out_channels=channels,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=4,
        norm_num_groups=8,
    )
    text_encoder = _clip_text_encoder(tokenizer)
    # SD 1.x's own scheduler settings (PNDM, as its folder ships it).
    scheduler = PNDMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", skip_prk_steps=True, steps_offset=1
    )
    return save_sd_pipeline(
        folder, unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, scheduler=scheduler
    )


def save_sd_pipeline(
    folder: Path, *, unet: Any, vae: Any, text_encoder: Any, tokenizer: Any, scheduler: Any
) -> Path:
    """A Stable Diffusion 1.x pipeline of these parts, saved in safetensors as published
    folders are, without the safety checker (nothing to check random pictures for)."""
    from diffusers import StableDiffusionPipeline

    pipeline = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(folder, safe_serialization=True)
    return folder


def tiny_sd_lora(pipeline: Path, folder: Path) -> Path:
    """A diffusers LoRA with random (nonzero) weights on the attention of ``pipeline``'s UNet,
    saved as ``folder/pytorch_lora_weights.safetensors``."""
    import torch
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    unet = UNet2DConditionModel.from_pretrained(
        pipeline, subfolder="unet", use_safetensors=True, local_files_only=True
    )
    torch.manual_seed(1)
    unet.add_adapter(LoraConfig(r=4, target_modules=["to_q", "to_k", "to_v"], init_lora_weights=False))
    StableDiffusionPipeline.save_lora_weights(
        folder, unet_lora_layers=get_peft_model_state_dict(unet), safe_serialization=True
    )
    return folder


def _clip_text_encoder(tokenizer: Any, *, projection_dim: int | None = None) -> Any:
    """A two-layer CLIP text encoder over ``tokenizer``'s vocabulary, random weights (drawn
    from torch's generator as it stands: callers seed it); with ``projection_dim``, the
    variant with a projection of its pooled state (SDXL's second encoder, SD3's two)."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=tokenizer.model_max_length,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **({} if projection_dim is None else {"projection_dim": projection_dim}),
    )
    return CLIPTextModel(config) if projection_dim is None else CLIPTextModelWithProjection(config)


def byte_tokenizer(folder: Path) -> Any:
    """A CLIP tokenizer over single bytes (each byte a token, alone or ending a word, with no
    merges), so any prompt tokenizes; CLIP's 77-token window."""
    from transformers import CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    folder.mkdir(parents=True, exist_ok=True)
    symbols = list(bytes_to_unicode().values())
    tokens = [*symbols, *(symbol + "</w>" for symbol in symbols), "<|startoftext|>", "<|endoftext|>"]
    (folder / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77)


def tiny_flux_pipeline(folder: Path, *, side: int = 32) -> Path:
    """A FLUX.1 pipeline folder (a one-block transformer, a two-block VAE whose latent has 4
    channels at ``side / 2``, a CLIP and a T5 text encoder with tokenizers written here) with
    random weights, whose default pictures are ``side`` pixels square, saved in safetensors."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel

    torch.manual_seed(0)
    tokenizer = byte_tokenizer(folder.parent / f"{folder.name}-tokenizer")
    tokenizer_2 = _t5_tokenizer(folder.parent / f"{folder.name}-tokenizer-2")
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=16,  # the latent's 4 channels, packed 2x2
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=8,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        guidance_embeds=False,
        axes_dims_rope=(2, 2, 4),
    )
    torch.manual_seed(0)
    vae = _flow_vae(side)
    torch.manual_seed(0)
    text_encoder = _clip_text_encoder(tokenizer)
    torch.manual_seed(0)
    text_encoder_2 = _t5_text_encoder(tokenizer_2, d_model=32)
    pipeline = FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        text_encoder_2=text_encoder_2,
        tokenizer_2=tokenizer_2,
        transformer=transformer,
    )
    pipeline.save_pretrained(folder, safe_serialization=True)
    return folder


def tiny_sd3_pipeline(folder: Path, *, side: int = 32) -> Path:
    """A Stable Diffusion 3 pipeline folder (a two-block transformer on 2x2 latent patches, the
    FLUX builder's VAE, two CLIP encoders with projections and a T5 one, tokenizers written
    here) with random weights, whose default pictures are ``side`` pixels square, saved in
    safetensors. The text sizes fit as SD3's ``encode_prompt`` joins them: the two CLIPs'
    states side by side (32 + 32) are as wide as T5's (64), the transformer's joint attention
    dim; their pooled projections side by side (32 + 32) are its pooled projection dim."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline

    torch.manual_seed(0)
    tokenizer = byte_tokenizer(folder.parent / f"{folder.name}-tokenizer")
    tokenizer_3 = _t5_tokenizer(folder.parent / f"{folder.name}-tokenizer-3")
    transformer = SD3Transformer2DModel(
        sample_size=side // 2,  # the VAE halves each side
        patch_size=2,
        in_channels=4,
        out_channels=4,
        num_layers=2,  # the last block has no text output (to_add_out): the first has every projection
        attention_head_dim=8,
        num_attention_heads=2,
        joint_attention_dim=64,
        caption_projection_dim=16,  # the text stream is as wide as the picture's: 2 heads of 8
        pooled_projection_dim=64,
    )
    torch.manual_seed(0)
    vae = _flow_vae(side)
    torch.manual_seed(0)
    text_encoder = _clip_text_encoder(tokenizer, projection_dim=32)
    text_encoder_2 = _clip_text_encoder(tokenizer, projection_dim=32)
    torch.manual_seed(0)
    text_encoder_3 = _t5_text_encoder(tokenizer_3, d_model=64)
    pipeline = StableDiffusion3Pipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),  # SD3's own
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        text_encoder_2=text_encoder_2,
        tokenizer_2=tokenizer,
        text_encoder_3=text_encoder_3,
        tokenizer_3=tokenizer_3,
        transformer=transformer,
    )
    pipeline.save_pretrained(folder, safe_serialization=True)
    return folder


def _flow_vae(side: int) -> Any:
    """A two-block VAE for ``side``-pixel pictures whose latent has 4 channels at ``side / 2``,
    shifted and scaled as FLUX's and SD3's are (no quantizing convolutions), random weights
    (callers seed torch)."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        sample_size=side,
        block_out_channels=(16, 32),
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=4,
        norm_num_groups=8,
        use_quant_conv=False,
        use_post_quant_conv=False,
        shift_factor=0.0609,
        scaling_factor=1.5035,
    )


def _t5_text_encoder(tokenizer: Any, *, d_model: int) -> Any:
    """A two-layer T5 encoder over ``tokenizer``'s vocabulary whose states are ``d_model`` wide,
    random weights (callers seed torch)."""
    from transformers import T5Config, T5EncoderModel

    return T5EncoderModel(
        T5Config(
            vocab_size=len(tokenizer),
            d_model=d_model,
            d_kv=8,
            d_ff=37,
            num_layers=2,
            num_heads=4,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    )


def _t5_tokenizer(folder: Path) -> Any:
    """A T5 tokenizer (sentencepiece-style unigram) over single characters: the word-start mark and
    printable ASCII, each a token, so any such prompt tokenizes; a 32-token window."""
    from transformers import T5TokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    pieces = ["\u2581", *(chr(c) for c in range(33, 127))]
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), *((piece, -1.0) for piece in pieces)]
    tokenizer = T5TokenizerFast(vocab=vocab, extra_ids=0, model_max_length=32)
    tokenizer.save_pretrained(folder)
    return tokenizer
