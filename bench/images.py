"""Image benchmark: seconds per picture through weighbridge's diffusers provider, on the path
the gateway takes (in-process ``Client.agenerate_images``: planning, the provider's pipeline
thread, the SQLite log, the picture kept on disk), against the same pipeline folder loaded and
called directly with diffusers, in the same run.

    .venv/bin/python bench/images.py [--pipeline DIR] [--steps 8] [--rounds 3] [--concurrency 1,4]

``--pipeline`` is any diffusers text-to-image folder; by default the benchmark builds a tiny
Stable Diffusion 1.x pipeline (random weights, nothing fetched: ``tests/support/diffusion.py``)
that makes 128x128 pictures, large enough that the pipeline's own work dominates, as it does with
real models. Both sides load the folder the same way (``DiffusionPipeline.from_pretrained``, in
the number type the provider picks for this machine: ``pipeline_dtype``) and make the same
pictures: the same prompt, size, steps and seeds, checked byte for byte. Direct means what a
script of one's own would do: the pipeline called on the main thread, each picture encoded to
PNG.

At C concurrent requests weighbridge gets C requests at once (``asyncio.gather``), which its one
pipeline thread answers in turn; directly, the same C pictures are made one after another (a
diffusers pipeline is not safe to call from several threads at once). For reference, a third
line makes the C pictures in one batched call, which weighbridge does not do (a batch rounds
differently, and a seed would no longer always give the same picture). Each level is measured
in ``--rounds`` rounds, the two sides alternating who goes first, after a warm-up picture on
each; the median round counts. The ratio is direct's seconds per picture over weighbridge's
(1.0: no cost; the target is >= 0.95).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# Both sides share this process, so they share torch's OpenMP settings, read once as torch
# starts: weighbridge's (passive waiting, which it sets for itself), set before anything starts
# torch. Spinning threads of one side's thread team would otherwise take the cores from the other.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from tests.support.diffusion import tiny_sd_pipeline
from weighbridge.client import Client
from weighbridge.config import load_settings
from weighbridge.providers.diffusion import pipeline_dtype
from weighbridge.types import ImageRequest

PROMPT = "a lighthouse on a cliff at dusk, oil painting"
MODEL = "bench-sd"
SIDES = ("weighbridge", "direct", "batched")


def direct_pipeline(folder: Path) -> tuple[Any, str]:
    """The folder's pipeline as a diffusers user loads it, and its device."""
    import torch
    from diffusers import DiffusionPipeline

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = pipeline_dtype(device)
    pipe = DiffusionPipeline.from_pretrained(folder, use_safetensors=True, local_files_only=True, dtype=dtype)
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe, device


def direct(pipe: Any, device: str, seeds: list[int], steps: int, batched: bool = False) -> list[bytes]:
    """PNG pictures for ``seeds``, one call each (or one call for all when ``batched``)."""
    import torch

    def call(group: list[int]) -> list[Any]:
        generators = [torch.Generator(device).manual_seed(seed) for seed in group]
        with torch.inference_mode():
            return list(
                pipe(
                    prompt=[PROMPT] * len(group),
                    num_inference_steps=steps,
                    generator=generators,
                    output_type="pil",
                ).images
            )

    images = call(seeds) if batched else [image for seed in seeds for image in call([seed])]
    pngs = []
    for image in images:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        pngs.append(buffer.getvalue())
    return pngs


def through_weighbridge(client: Client, seeds: list[int], steps: int) -> list[bytes]:
    """PNG pictures for ``seeds``, asked of weighbridge all at once."""

    async def go() -> list[bytes]:
        asked = [ImageRequest(model=MODEL, prompt=PROMPT, steps=steps, seed=seed) for seed in seeds]
        answers = await asyncio.gather(*(client.agenerate_images(request) for request in asked))
        return [answer.images[0].data for answer in answers]

    return client.run_async(go)


def timed(work: Callable[[], list[bytes]]) -> tuple[float, list[bytes]]:
    start = time.perf_counter()
    pngs = work()
    return (time.perf_counter() - start) / len(pngs), pngs


def one_round(
    client: Client, pipe: Any, device: str, seeds: list[int], steps: int, weighbridge_first: bool
) -> dict[str, float]:
    """Seconds per picture on each side for ``seeds``, having checked both made the same."""
    sides: dict[str, Callable[[], list[bytes]]] = {
        "weighbridge": lambda: through_weighbridge(client, seeds, steps),
        "direct": lambda: direct(pipe, device, seeds, steps),
    }
    seconds, made = {}, {}
    for name in sides if weighbridge_first else reversed(sides):
        seconds[name], made[name] = timed(sides[name])
    assert made["weighbridge"] == made["direct"], "the same pictures on both sides"
    seconds["batched"] = timed(lambda: direct(pipe, device, seeds, steps, batched=True))[0]
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipeline", type=Path, help="a diffusers pipeline folder (default: a tiny one)")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", default="1,4", help="comma-separated levels")
    args = parser.parse_args()
    levels = [int(level) for level in args.concurrency.split(",")]

    with tempfile.TemporaryDirectory(prefix="bench-images-") as tmp:
        folder = args.pipeline or tiny_sd_pipeline(Path(tmp) / "pipeline", side=128, channels=(64, 128))
        home = Path(tmp) / "home"
        home.mkdir()
        (home / "config.toml").write_text(
            f'[models.{MODEL}]\nfile = "{folder.resolve()}"\nprovider = "diffusers"\n'
        )
        os.environ["WEIGHBRIDGE_HOME"] = str(home)
        os.environ.pop("WEIGHBRIDGE_CONFIG", None)
        with Client(load_settings()) as client:
            warm = through_weighbridge(client, [0], args.steps)  # loads weighbridge's copy
            pipe, device = direct_pipeline(folder)
            assert direct(pipe, device, [0], args.steps) == warm, "both sides make the same picture"
            print(f"pipeline: {type(pipe).__name__} from {folder}, on {device}, {args.steps} steps")
            print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)\n")
            print(f"{'clients':>7}  {'weighbridge s/pic':>17}  {'direct s/pic':>12}  {'ratio':>5}  "
                  f"{'direct batched s/pic':>20}")  # fmt: skip
            for level in levels:
                rounds = [
                    one_round(
                        client,
                        pipe,
                        device,
                        [100 * level + 10 * r + i for i in range(level)],
                        args.steps,
                        r % 2 == 0,
                    )
                    for r in range(args.rounds)
                ]
                wb, plain, batched = (statistics.median(run[side] for run in rounds) for side in SIDES)
                print(f"{level:>7}  {wb:>17.3f}  {plain:>12.3f}  {plain / wb:>5.3f}  {batched:>20.3f}")
            print(f"\nload average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
