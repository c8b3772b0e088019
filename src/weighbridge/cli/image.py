"""``weighbridge image``: pictures from a prompt, written to files."""

from __future__ import annotations

from pathlib import Path

import click

from weighbridge.cli import context


@click.command()
@click.argument("prompt")
@click.option("-m", "--model", required=True, help="An image model (weighbridge models lists them).")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write it.",
)
@click.option("-n", "--n", "count", type=int, default=1, show_default=True, help="How many pictures.")
@click.option("--size", help="WIDTHxHEIGHT (default: the model's).")
@click.option("--quality", type=click.Choice(["low", "medium", "high", "standard", "hd", "auto"]))
@click.option("--steps", type=int, help="Denoising steps (open pipelines).")
@click.option("--seed", type=int, help="The same seed, size and steps make the same picture again.")
@click.option("--negative", help="What the picture should not show (pipelines that take one).")
@click.option("--guidance", type=float, help="Guidance scale (pipelines that take one).")
@click.pass_context
def image(
    ctx: click.Context,
    prompt: str,
    model: str,
    output: Path,
    count: int,
    size: str | None,
    quality: str | None,
    steps: int | None,
    seed: int | None,
    negative: str | None,
    guidance: float | None,
) -> None:
    """Make pictures of PROMPT with an image model and write them to OUTPUT (with -n 2 or
    more, OUTPUT's name gets -1, -2...). The format follows OUTPUT's suffix (.png, .jpg, .webp).

    \b
    weighbridge image -m flux-1-schnell "a lighthouse at dawn, watercolour" -o lighthouse.png
    weighbridge image -m ./my-sd-turbo "a red bicycle" -o bike.png --steps 2 --seed 7
    """
    from pydantic import ValidationError

    from weighbridge.errors import InvalidRequestError
    from weighbridge.types import ImageRequest, validation_message

    formats = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}
    if output.suffix.lower() not in formats:
        raise InvalidRequestError(f"{output}: the name must end in .png, .jpg or .webp")
    try:
        request = ImageRequest.model_validate(
            {
                "model": model,
                "prompt": prompt,
                "n": count,
                "size": size,
                "quality": quality,
                "steps": steps,
                "seed": seed,
                "negative_prompt": negative,
                "guidance": guidance,
                "output_format": formats[output.suffix.lower()],
            }
        )
    except ValidationError as exc:
        raise InvalidRequestError(validation_message(exc)) from None
    answer = context.client(ctx, source="cli").generate_images(request)
    paths = (
        [output]
        if len(answer.images) == 1
        else [output.with_name(f"{output.stem}-{i}{output.suffix}") for i in range(1, len(answer.images) + 1)]
    )
    for path, picture in zip(paths, answer.images, strict=True):
        path.write_bytes(picture.data)
        click.echo(f"{path}  sha256:{picture.sha256[:16]}")
    made = [f"{answer.latency_s:.2f} s"]
    if answer.seed is not None:
        made.append(f"seed {answer.seed}")
    if answer.steps is not None:
        made.append(f"{answer.steps} steps")
    if answer.size is not None:
        made.append(answer.size)
    made.append("cost unknown" if answer.cost_usd is None else f"${answer.cost_usd:.6f}")
    click.echo(f"{answer.model}: " + ", ".join(made), err=True)
