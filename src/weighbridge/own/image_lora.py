"""LoRA fine-tuning of a local text-to-image pipeline on captioned pictures, offline.

The base is a diffusers pipeline folder (a path, or a model whose serve entry is one) with a
UNet: Stable Diffusion 1.x/2.x and SDXL; or FLUX.1 or Stable Diffusion 3/3.5, whose denoiser
is a transformer. Its VAE and text encoder(s) stay frozen, so each picture
(:mod:`~weighbridge.own.image_lora_data`) is encoded once, to the mean and spread of its
latent, and each caption once, to what the denoiser is conditioned on. The denoiser gets a
peft LoRA on its attention projections, as diffusers' own ``train_text_to_image_lora.py``,
``train_dreambooth_lora_flux.py`` and ``train_dreambooth_lora_sd3.py`` do (SD3's on both
streams of its joint attention, the text's too, as that script does). A UNet learns the
denoising loss under the pipeline's noise schedule (DDPM noising with its betas; the target is
the noise or the velocity, as its ``prediction_type`` says); FLUX and SD3 learn by flow
matching (:mod:`~weighbridge.own.flow_match`: a noise level ``sigma`` drawn uniformly per
picture, the noisy latent ``(1 - sigma) * latent + sigma * noise``, the target ``noise -
latent``), FLUX on latents packed as its pipeline packs them, SD3 on latents as they are.

Step ``s`` draws its latents, noise and timesteps from a generator seeded by the seed and
``s`` alone, reads its pictures in an order drawn from ``seed + epoch``, and the learning rate
is constant: so a run that stops at step ``s`` and is resumed (``--steps`` raised, even)
reaches exactly the weights of a run that never stopped, through the text fine-tune's
checkpoints (:mod:`~weighbridge.own.lora_checkpoint`). The same draws on every device keep a
run on the GPU the run on the CPU, faster.

Everything lands in ``$WEIGHBRIDGE_HOME/finetune/NAME``: ``checkpoints/``, ``adapter/``
(``pytorch_lora_weights.safetensors``, diffusers' LoRA format, which ``load_lora_weights``
reads) and ``run.json``. The base folder with the adapter is registered as the image model
NAME, run by the diffusers provider, with the hashes of both.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from weighbridge.config import Settings
from weighbridge.errors import InvalidRequestError, ModelLoadError
from weighbridge.hashing import content_hash
from weighbridge.own import flow_match, image_lora_data, lora_checkpoint
from weighbridge.own.finetune import check_name, file_sha256, training_device
from weighbridge.own.lora_train import optimize
from weighbridge.own.registry import register_pipeline_model
from weighbridge.providers import hf_load
from weighbridge.providers.resident import torch_threads
from weighbridge.targets import resolve
from weighbridge.weights import PIPELINE_ADAPTER, PIPELINE_INDEX, check_loadable, weight_sha256

if TYPE_CHECKING:
    from weighbridge.own.lora_train import Progress

#: Fixed timesteps per held-out picture: the eval loss is an average over the noise levels, the
#: same draws before and after training, so the two numbers differ only by the adapter.
_EVAL_DRAWS = 4


@dataclass(frozen=True)
class ImageFinetuneOptions:
    """The knobs of a run (diffusers' defaults for a LoRA); all but ``epochs``, ``steps`` and
    ``checkpoint_every`` are in its checkpoints' fingerprint."""

    epochs: float = 10.0
    #: Optimizer steps; when unset, ``epochs`` passes over the pictures.
    steps: int | None = None
    lr: float = 1e-4
    rank: int = 4
    batch_size: int = 1
    #: Side of the square pictures are cut to; unset: the pipeline's default.
    resolution: int | None = None
    seed: int = 0
    checkpoint_every: int = 50

    def check(self) -> None:
        if self.epochs <= 0 or self.lr <= 0 or self.rank < 1 or self.batch_size < 1:
            raise InvalidRequestError("epochs, lr, rank and batch size must be positive")
        if (self.steps is not None and self.steps < 1) or self.checkpoint_every < 1:
            raise InvalidRequestError("steps and the checkpoint interval must be at least 1")
        if self.resolution is not None and (self.resolution < 8 or self.resolution % 8):
            raise InvalidRequestError(f"resolution {self.resolution}: give a multiple of 8")


@dataclass(frozen=True)
class ImageFinetuneResult:
    name: str
    folder: Path
    base: Path
    adapter: Path
    #: The registered model's: the base folder's and the adapter's together.
    sha256: str
    base_sha256: str
    #: The adapter file's own.
    adapter_sha256: str
    steps: int
    resumed_from: int
    train_loss: float | None
    eval_loss_base: float | None
    eval_loss: float | None
    seconds: float
    losses: list[float] = field(default_factory=list, repr=False)


def finetune_images(
    settings: Settings,
    base: str,
    images: Path,
    name: str,
    *,
    eval_images: Path | None = None,
    options: ImageFinetuneOptions | None = None,
    resume: bool = True,
    progress: Progress | None = None,
) -> ImageFinetuneResult:
    """Train a LoRA for the pipeline ``base`` on the captioned pictures in ``images``; the pair
    becomes image model ``name``."""
    from weighbridge.own.lora_train import Quiet, plan_steps

    began = time.perf_counter()
    options = options or ImageFinetuneOptions()
    options.check()
    check_name(settings, name)
    train_items = image_lora_data.read_folder(images)
    eval_items = image_lora_data.read_folder(eval_images) if eval_images is not None else []
    pipeline_dir, catalog_id = _find_base(settings, base)
    base_sha = file_sha256(settings, pipeline_dir)
    folder = settings.home / "finetune" / name
    if not resume:
        shutil.rmtree(folder / "checkpoints", ignore_errors=True)

    progress = progress or Quiet()
    progress.phase(f"loading {base}")
    device = training_device()
    pipe = _load(pipeline_dir, device)
    flow = flow_match.of(pipe)
    if flow is None:
        side = options.resolution or pipe.unet.config.sample_size * pipe.vae_scale_factor
    else:
        side = options.resolution or pipe.default_sample_size * pipe.vae_scale_factor
        if side % (flow.patch * pipe.vae_scale_factor):
            raise InvalidRequestError(
                f"resolution {side}: {type(pipe).__name__}'s transformer takes latents in "
                f"{flow.patch}x{flow.patch} patches, give a multiple of {flow.patch * pipe.vae_scale_factor}"
            )
    progress.phase(f"encoding {len(train_items) + len(eval_items)} pictures at {side}x{side}")
    train_set = [image_lora_data.encode(pipe, item, side, device) for item in train_items]
    eval_set = [image_lora_data.encode(pipe, item, side, device) for item in eval_items]
    denoiser = "unet" if flow is None else "transformer"
    for part_name, part in pipe.components.items():  # done with: room on the GPU for training
        if part_name != denoiser and isinstance(part, torch.nn.Module):
            part.to("cpu")
    targets = flow_match.ATTENTION if flow is None else flow.targets
    unet = _with_lora(getattr(pipe, denoiser), options.rank, options.seed, targets)
    noise = flow or _noise_schedule(pipe)

    eval_base = _eval_loss(unet, noise, eval_set, options) if eval_set else None
    total = options.steps or plan_steps(len(train_set), options.batch_size, options.epochs, None)
    data_sha = image_lora_data.data_sha256(train_items)
    fingerprint = content_hash(
        {"base": base_sha, "data": data_sha, "side": side}
        | {k: v for k, v in asdict(options).items() if k not in ("epochs", "steps", "checkpoint_every")}
    )
    resumed_from, losses = _train(
        unet, noise, train_set, options, total, folder / "checkpoints", fingerprint, progress
    )
    eval_loss = _eval_loss(unet, noise, eval_set, options) if eval_set else None

    progress.phase("saving the adapter")
    from peft.utils import get_peft_model_state_dict

    adapter_dir = folder / "adapter"
    shutil.rmtree(adapter_dir, ignore_errors=True)
    layers = {f"{denoiser}_lora_layers": get_peft_model_state_dict(unet)}  # as load_lora_weights reads them
    type(pipe).save_lora_weights(adapter_dir, **layers, safe_serialization=True)
    adapter_sha = file_sha256(settings, adapter_dir / PIPELINE_ADAPTER)
    store = settings.open_store()
    try:
        sha = weight_sha256(store, pipeline_dir, adapter_dir)
    finally:
        store.close()
    register_pipeline_model(
        settings.home,
        name,
        pipeline_dir,
        adapter_dir,
        catalog=settings.catalog,
        base=catalog_id,
        description=f"LoRA fine-tune (rank {options.rank}, {total} steps) of {base} on {images.name}",
        sha256=sha,
        extra={"base_sha256": base_sha, "adapter_sha256": adapter_sha, "data_sha256": data_sha},
    )
    tail = losses[-10:]
    result = ImageFinetuneResult(
        name=name,
        folder=folder,
        base=pipeline_dir,
        adapter=adapter_dir,
        sha256=sha,
        base_sha256=base_sha,
        adapter_sha256=adapter_sha,
        steps=total,
        resumed_from=resumed_from,
        train_loss=sum(tail) / len(tail) if tail else None,
        eval_loss_base=eval_base,
        eval_loss=eval_loss,
        seconds=time.perf_counter() - began,
        losses=losses,
    )
    manifest = {
        **{k: str(v) if isinstance(v, Path) else v for k, v in asdict(result).items()},
        "base_spec": base,
        "images": str(images),
        "data_sha256": data_sha,
        "options": asdict(options),
        "seconds": round(result.seconds, 1),
        "losses": [round(x, 6) for x in losses],
    }
    (folder / "run.json").write_text(json.dumps(manifest, indent=2), "utf-8")
    return result


def _find_base(settings: Settings, spec: str) -> tuple[Path, str | None]:
    """The pipeline folder ``spec`` names (a path, or a model run from one), and its catalog id."""
    path = Path(spec).expanduser()
    if not path.is_dir():
        target = resolve(settings, spec)
        if target.weight_file is None or target.adapter is not None:
            raise InvalidRequestError(
                f"'{spec}' is not a local diffusers pipeline: give a pipeline folder (model_index.json "
                "and a subfolder per component), or a model whose serve entry is one, without an adapter"
            )
        path = target.weight_file
    if not (path / PIPELINE_INDEX).is_file():
        raise InvalidRequestError(f"{path} is not a diffusers pipeline folder: it has no {PIPELINE_INDEX}")
    check_loadable(path)
    return path.resolve(), spec if spec in settings.catalog.models else None


def _load(folder: Path, device: torch.device) -> Any:
    """The pipeline in float32 (LoRA's small updates vanish in half precision), frozen, on ``device``."""
    hf_load.transformers_offline(torch_threads())
    import diffusers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    try:
        pipe = diffusers.DiffusionPipeline.from_pretrained(  # type: ignore[no-untyped-call]
            folder, use_safetensors=True, local_files_only=True, dtype=torch.float32
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelLoadError(f"diffusers cannot load {folder}: {hf_load.one_line(exc)}") from None
    with_unet = getattr(pipe, "unet", None) is not None and hasattr(pipe, "encode_prompt")
    if not with_unet and flow_match.of(pipe) is None:
        raise InvalidRequestError(
            f"{folder} holds a {type(pipe).__name__}: image fine-tunes train text-to-image pipelines "
            "with a UNet (Stable Diffusion 1.x/2.x, SDXL), FLUX.1 or Stable Diffusion 3/3.5"
        )
    for part in pipe.components.values():
        if isinstance(part, torch.nn.Module):
            part.requires_grad_(False)
    return pipe.to(device)


def _with_lora(unet: Any, rank: int, seed: int, targets: tuple[str, ...]) -> Any:
    """``unet`` (or a transformer) with a LoRA on the modules ``targets`` names, whose first half
    starts from draws fixed by ``seed`` (the second starts at zero, so the pair begins as the base)."""
    from peft import LoraConfig

    config = LoraConfig(
        r=rank,
        lora_alpha=rank,
        init_lora_weights="gaussian",
        target_modules=list(targets),
    )
    torch.manual_seed(seed)
    with hf_load.peft_quietly():
        unet.add_adapter(config)
    return unet


def _noise_schedule(pipe: Any) -> Any:
    """DDPM noising with the pipeline's own betas and prediction type (its sampler is another)."""
    from diffusers import DDPMScheduler

    schedule = DDPMScheduler.from_config(pipe.scheduler.config)  # type: ignore[no-untyped-call]
    if schedule.config.prediction_type not in ("epsilon", "v_prediction"):
        raise InvalidRequestError(
            f"the pipeline's scheduler predicts '{schedule.config.prediction_type}': "
            "fine-tunes learn 'epsilon' or 'v_prediction'"
        )
    return schedule


def _train(
    unet: Any,
    noise: Any,
    examples: list[image_lora_data.Example],
    options: ImageFinetuneOptions,
    total: int,
    checkpoints: Path,
    fingerprint: str,
    progress: Progress,
) -> tuple[int, list[float]]:
    """Train the LoRA to step ``total``, from the newest checkpoint: the step it resumed from,
    and each step's loss."""
    params = [p for p in unet.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=options.lr, weight_decay=0.0)
    start = lora_checkpoint.restore(checkpoints, fingerprint, unet, optimizer)
    if start > total:
        raise InvalidRequestError(
            f"the checkpoints in {checkpoints} are at step {start}, past {total}: "
            "ask for more steps, or pass --no-resume to start over (it deletes them)"
        )
    progress.start(total, start)
    unet.train()
    losses: list[float] = []
    batches = _batches(len(examples), options, start)
    for step in range(start, total):
        draws = torch.Generator().manual_seed((options.seed << 32) + step)
        loss = _loss(unet, noise, [examples[i] for i in next(batches)], draws)
        losses.append(optimize(loss, params, optimizer))
        done = step + 1
        if done % options.checkpoint_every == 0 or done == total:
            lora_checkpoint.save(checkpoints, done, fingerprint, unet, optimizer)
        progress.step(done, losses[-1])
    return start, losses


def _batches(count: int, options: ImageFinetuneOptions, start: int) -> Iterator[list[int]]:
    """Indices of each step's pictures from step ``start``: every epoch a permutation of them."""
    per_epoch = math.ceil(count / options.batch_size)
    epoch, index = divmod(start, per_epoch)
    while True:
        order = torch.randperm(count, generator=torch.Generator().manual_seed(options.seed + epoch)).tolist()
        for i in range(index, per_epoch):
            yield order[i * options.batch_size : (i + 1) * options.batch_size]
        epoch, index = epoch + 1, 0


def _loss(
    unet: Any,
    noise: Any,
    batch: list[image_lora_data.Example],
    draws: torch.Generator,
    timesteps: torch.Tensor | None = None,
) -> torch.Tensor:
    """The denoising loss of ``batch`` at ``timesteps`` (else drawn), all randomness from ``draws``."""
    if isinstance(noise, flow_match.FlowMatch):
        return flow_match.loss(unet, noise, batch, draws, timesteps)
    latents, eps, device = image_lora_data.drawn(batch, draws)
    if timesteps is None:
        timesteps = torch.randint(0, noise.config.num_train_timesteps, (len(batch),), generator=draws)
    timesteps = timesteps.to(device)
    noisy = noise.add_noise(latents, eps, timesteps)
    target = eps if noise.config.prediction_type == "epsilon" else noise.get_velocity(latents, eps, timesteps)
    condition = {key: torch.stack([e.condition[key] for e in batch]) for key in batch[0].condition}
    hidden = condition.pop("encoder_hidden_states")
    added = condition or None
    predicted = unet(noisy, timesteps, encoder_hidden_states=hidden, added_cond_kwargs=added).sample
    return F.mse_loss(predicted.float(), target.float())


@torch.no_grad()
def _eval_loss(
    unet: Any, noise: Any, examples: list[image_lora_data.Example], options: ImageFinetuneOptions
) -> float:
    """The mean denoising loss on held-out pictures at evenly spread noise levels, from draws
    fixed by the seed: before and after training, the same noise on the same pictures."""
    was_training = unet.training
    unet.eval()
    draws = torch.Generator().manual_seed(options.seed)
    steps = noise.config.num_train_timesteps
    total = 0.0
    for k in range(_EVAL_DRAWS):
        level = int((k + 0.5) * steps / _EVAL_DRAWS)
        for begin in range(0, len(examples), options.batch_size):
            batch = examples[begin : begin + options.batch_size]
            timesteps = torch.full((len(batch),), level, dtype=torch.long)
            total += _loss(unet, noise, batch, draws, timesteps).item() * len(batch)
    unet.train(was_training)
    return total / (_EVAL_DRAWS * len(examples))
