"""Image engines on this machine: diffusers (PyTorch) against stable-diffusion.cpp (ggml), the same
Stable Diffusion 1.5 pipeline folder, the same picture size, steps, sampler and guidance.

    .venv/bin/python bench/image_engines.py [--pipeline DIR] [--sizes 256,512] [--steps 4]
        [--rounds 2] [--engines diffusers-f32,diffusers-bf16,sdcpp-f16,sdcpp-q8_0,sdcpp-q4_0]

Which engine makes a picture faster on a platform decides which one weighbridge runs there. The
peer named in the ratios is diffusers in float32, what the ``diffusers`` provider runs on a CPU.
stable-diffusion.cpp reads the same diffusers folder (its loader maps the folder's UNet, VAE and
CLIP names onto its own) and converts the weights at load to the type asked (``f16`` as stored,
``q8_0``, ``q4_0``: what its GGUF files hold), so every engine runs the same network.

``--pipeline`` is any Stable Diffusion 1.x folder in the Hugging Face layout. By default the
benchmark builds one with SD 1.5's exact architecture (its UNet, VAE and CLIP ViT-L/14 text
encoder configurations, 1.07 billion parameters, float16 on disk) and random weights, nothing
fetched, at ``~/.cache/weighbridge-bench/sd15-architecture`` (2.1 GB, made once): the time a
network takes does not depend on what its weights hold, so the seconds are SD 1.5's. Its
tokenizer is a byte-level stand-in (the vocabulary is not on disk here); the prompt's tokens
differ between engines, not their number of positions (CLIP's 77).

Each engine runs in its own process (so one's memory does not count against another), loads
the pipeline, makes a warm-up picture, then ``--rounds`` pictures per size; the median counts.
Both use every core (``--threads``), Euler sampling and classifier-free guidance 7.5 (two
UNet passes a step). stable-diffusion.cpp's Python binding compiles ggml and
stable-diffusion.cpp at install (about 2.5 minutes on 2 cores) into its own virtual environment,
``bench/.venv-sdcpp``, made on first use (``--sdcpp-venv``), so the project's own environment
does not carry an engine it does not use.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SDCPP_SPEC = "stable-diffusion-cpp-python==0.4.7"
PEER = "diffusers-f32"
ENGINES = ("diffusers-f32", "diffusers-bf16", "sdcpp-f16", "sdcpp-q8_0", "sdcpp-q4_0")
PROMPT = "a lighthouse on a cliff at dusk, oil painting"
GUIDANCE = 7.5
SEED = 7


def build_sd15_architecture(folder: Path) -> Path:
    """A Stable Diffusion 1.5 pipeline folder, SD 1.5's configuration with random weights."""
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
    from safetensors.torch import load_file, save_file
    from transformers import CLIPTextConfig, CLIPTextModel

    sys.path.insert(0, str(ROOT))
    from tests.support.diffusion import byte_tokenizer, save_sd_pipeline

    torch.manual_seed(0)
    torch.set_default_dtype(torch.float16)  # half the memory while building; stored as SD 1.5's fp16 files
    unet = UNet2DConditionModel(
        sample_size=64,
        block_out_channels=(320, 640, 1280, 1280),
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        cross_attention_dim=768,
        attention_head_dim=8,
    )
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=2,
        sample_size=512,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=49408,
            hidden_size=768,
            intermediate_size=3072,
            num_hidden_layers=12,
            num_attention_heads=12,
            max_position_embeddings=77,
            hidden_act="quick_gelu",
            projection_dim=768,
        )
    )
    for module in (unet, vae, text_encoder):
        for weight in module.parameters():
            if weight.dim() > 1:  # small draws keep activations finite through 1.07B random weights
                torch.nn.init.normal_(weight, std=0.02)
    torch.set_default_dtype(torch.float32)
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
    )
    tokenizer = byte_tokenizer(folder.parent / f"{folder.name}-tokenizer")
    save_sd_pipeline(
        folder, unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, scheduler=scheduler
    )
    # transformers 5 writes CLIPTextModel's tensors without the ``text_model.`` prefix that every
    # published SD checkpoint has (and that stable-diffusion.cpp looks for); both read it with it.
    encoder = folder / "text_encoder" / "model.safetensors"
    tensors = load_file(encoder)
    save_file({f"text_model.{name}": t for name, t in tensors.items()}, encoder, metadata={"format": "pt"})
    return folder


def run_diffusers(
    folder: Path, dtype_name: str, sizes: list[int], steps: int, rounds: int, threads: int
) -> dict[str, Any]:
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline

    torch.set_num_threads(threads)
    dtype = {"f32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    start = time.perf_counter()
    pipe = StableDiffusionPipeline.from_pretrained(
        folder, dtype=dtype, local_files_only=True, use_safetensors=True
    )
    pipe.scheduler = EulerDiscreteScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    loaded = time.perf_counter() - start

    def make(side: int) -> float:
        begin = time.perf_counter()
        with torch.inference_mode():
            pipe(
                PROMPT,
                height=side,
                width=side,
                num_inference_steps=steps,
                guidance_scale=GUIDANCE,
                generator=torch.Generator().manual_seed(SEED),
            )
        return time.perf_counter() - begin

    return measured(make, loaded, sizes, rounds)


def run_sdcpp(
    folder: Path, wtype: str, sizes: list[int], steps: int, rounds: int, threads: int
) -> dict[str, Any]:
    from stable_diffusion_cpp import StableDiffusion

    start = time.perf_counter()
    engine = StableDiffusion(model_path=str(folder), n_threads=threads, wtype=wtype, verbose=False)
    loaded = time.perf_counter() - start

    def make(side: int) -> float:
        begin = time.perf_counter()
        pictures = engine.generate_image(
            PROMPT,
            width=side,
            height=side,
            sample_steps=steps,
            cfg_scale=GUIDANCE,
            sample_method="euler",
            seed=SEED,
        )
        if not pictures:
            raise RuntimeError("stable-diffusion.cpp made no picture (it logs why with verbose=True)")
        return time.perf_counter() - begin

    return measured(make, loaded, sizes, rounds)


def measured(make: Any, loaded: float, sizes: list[int], rounds: int) -> dict[str, Any]:
    """Seconds per picture at each size (the median of ``rounds``, after one warm-up picture)."""
    make(sizes[0])
    seconds = {str(side): statistics.median(make(side) for _ in range(rounds)) for side in sizes}
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"load_s": loaded, "seconds": seconds, "peak_mib": peak_mib}


def worker(args: argparse.Namespace) -> None:
    family, kind = args.worker.split("-", 1)
    sizes = [int(side) for side in args.sizes.split(",")]
    run = run_diffusers if family == "diffusers" else run_sdcpp
    result = run(args.pipeline, kind, sizes, args.steps, args.rounds, args.threads)
    print(json.dumps(result))


def sdcpp_python(venv: Path) -> Path:
    """The stable-diffusion.cpp venv's Python, made on first use."""
    python = venv / "bin" / "python"
    if (
        python.exists()
        and subprocess.run([python, "-c", "import stable_diffusion_cpp"], capture_output=True).returncode == 0
    ):
        return python
    print(
        f"building {SDCPP_SPEC} into {venv} (compiles ggml and stable-diffusion.cpp: minutes)",
        file=sys.stderr,
    )
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    (venv / ".gitignore").write_text("*\n")
    subprocess.run([python, "-m", "pip", "install", "--quiet", SDCPP_SPEC], check=True)
    return python


def engine_run(python: Path, engine: str, args: argparse.Namespace) -> dict[str, Any] | str:
    """One engine's measurements from its own process, or why it failed."""
    command = [
        str(python), __file__, "--worker", engine, "--pipeline", str(args.pipeline), "--sizes", args.sizes,
        "--steps", str(args.steps), "--rounds", str(args.rounds), "--threads", str(args.threads),
    ]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"}
    )
    if done.returncode != 0:
        return (done.stderr.strip().splitlines() or [f"exited with {done.returncode}"])[-1]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def report(results: dict[str, dict[str, Any] | str], sizes: list[int], steps: int) -> None:
    peer = results.get(PEER)
    print(f"\nseconds per picture ({steps} steps, guidance {GUIDANCE}, Euler); ratio: {PEER}'s time / this")
    header = f"{'engine':<16}{'load s':>8}{'peak MiB':>10}" + "".join(
        f"{f'{side}px s':>10}{'ratio':>8}" for side in sizes
    )
    print(header)
    for engine, result in results.items():
        if isinstance(result, str):
            print(f"{engine:<16} failed: {result}")
            continue
        line = f"{engine:<16}{result['load_s']:>8.1f}{result['peak_mib']:>10.0f}"
        for side in sizes:
            seconds = result["seconds"][str(side)]
            ratio = peer["seconds"][str(side)] / seconds if isinstance(peer, dict) else float("nan")
            line += f"{seconds:>10.2f}{ratio:>7.2f}x"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--pipeline", type=Path, help="an SD 1.x pipeline folder (default: SD 1.5's architecture)"
    )
    parser.add_argument("--sizes", default="256,512", help="comma-separated sides in pixels")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--sdcpp-venv", type=Path, default=ROOT / "bench" / ".venv-sdcpp")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if args.pipeline is None:
        args.pipeline = Path.home() / ".cache" / "weighbridge-bench" / "sd15-architecture"
        if not (args.pipeline / "model_index.json").is_file():
            print(f"building SD 1.5's architecture with random weights at {args.pipeline}", file=sys.stderr)
            build_sd15_architecture(args.pipeline)
    engines = [engine for engine in args.engines.split(",") if engine]
    unknown = set(engines) - set(ENGINES)
    if unknown:
        parser.error(f"unknown engines {sorted(unknown)}: choose from {', '.join(ENGINES)}")
    sdcpp = sdcpp_python(args.sdcpp_venv) if any(e.startswith("sdcpp") for e in engines) else None
    results: dict[str, dict[str, Any] | str] = {}
    for engine in engines:
        python = sdcpp if engine.startswith("sdcpp") and sdcpp else Path(sys.executable)
        print(f"{engine} ...", file=sys.stderr, flush=True)
        results[engine] = engine_run(python, engine, args)
    report(results, [int(side) for side in args.sizes.split(",")], args.steps)


if __name__ == "__main__":
    main()
