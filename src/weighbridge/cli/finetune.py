"""``weighbridge finetune``: LoRA on local examples; the result becomes a catalog model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from weighbridge.cli import context

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress as Bar
    from rich.progress import TaskID


@click.command()
@click.option(
    "--base",
    required=True,
    help="A local model: catalog id (smollm2-135m), .gguf path, or Hugging Face checkpoint folder; "
    "with --images, a diffusers pipeline folder (SD 1.x/2.x, SDXL, FLUX.1) or a model run from one.",
)
@click.option(
    "--data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='JSONL of examples: {"messages": [...]} or {"prompt", "completion"}.',
)
@click.option(
    "--images",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Instead of --data: a folder of pictures with captions (NAME.txt beside NAME.png, or a "
    'metadata.jsonl of {"file_name", "text"}) to train an image LoRA on.',
)
@click.option(
    "--eval",
    "eval_data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='Held-out JSONL, same shape ("reference" counts as completion): loss before and after.',
)
@click.option(
    "--eval-images",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Held-out captioned pictures, as --images: denoising loss before and after.",
)
@click.option(
    "--resolution", type=int, help="Pictures: side of the square they are cut to (default: the pipeline's)."
)
@click.option("--name", required=True, help="The new model's name in the catalog.")
@click.option("--epochs", type=float, default=2.0, show_default=True)
@click.option("--lr", type=float, default=1e-3, show_default=True, help="Peak learning rate.")
@click.option("--rank", type=int, default=8, show_default=True, help="LoRA rank.")
@click.option("--batch-size", type=int, default=8, show_default=True)
@click.option("--max-steps", "--steps", type=int, help="Stop after this many optimizer steps.")
@click.option("--max-tokens", type=int, default=512, show_default=True, help="Cut longer examples.")
@click.option(
    "--checkpoint-every", type=int, default=50, show_default=True, help="Steps between checkpoints."
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--gguf-type",
    type=click.Choice(["q8_0", "f16"]),
    default="q8_0",
    show_default=True,
    help="How the changed tensors are stored in the GGUF.",
)
@click.option(
    "--resume/--no-resume",
    default=True,
    show_default=True,
    help="Continue from the last checkpoint of NAME, or delete it and start over.",
)
@click.pass_context
def finetune(
    ctx: click.Context,
    base: str,
    data: Path | None,
    images: Path | None,
    eval_data: Path | None,
    eval_images: Path | None,
    resolution: int | None,
    name: str,
    epochs: float,
    lr: float,
    rank: int,
    batch_size: int,
    max_steps: int | None,
    max_tokens: int,
    checkpoint_every: int,
    seed: int,
    gguf_type: str,
    resume: bool,
) -> None:
    """Fine-tune a local model with LoRA; nothing leaves the machine.

    \b
    weighbridge finetune --base smollm2-135m --data train.jsonl --eval eval.jsonl --name my-model
    weighbridge run -m my-model "..."
    weighbridge finetune --base ./sd-turbo --images pictures/ --steps 500 --name my-style
    weighbridge image -m my-style "..." -o out.png

    Checkpoints go to $WEIGHBRIDGE_HOME/finetune/NAME/: run the same command again to resume.
    For pictures the options left unset take diffusers' LoRA defaults (--lr 1e-4, --rank 4,
    --batch-size 1, --epochs 10) and --steps is the exact length: raising it resumes a finished run.
    """
    if (data is None) == (images is None):
        raise click.UsageError("give --data (text examples) or --images (captioned pictures)")
    wrong = _TEXT_ONLY if images is not None else _IMAGE_ONLY
    if given := [p.opts[0] for p in ctx.command.params if p.name in wrong and _given(ctx, str(p.name))]:
        raise click.UsageError(f"{', '.join(given)} goes with {'--data' if images else '--images'}")
    if images is not None:
        _finetune_images(ctx, base, images, eval_images, name, resume)
        return
    assert data is not None
    from rich.console import Console

    from weighbridge.own.finetune import FinetuneOptions
    from weighbridge.own.finetune import finetune as run_finetune

    options = FinetuneOptions(
        epochs=epochs,
        lr=lr,
        rank=rank,
        batch_size=batch_size,
        max_steps=max_steps,
        max_tokens=max_tokens,
        checkpoint_every=checkpoint_every,
        seed=seed,
        gguf_type="f16" if gguf_type == "f16" else "q8_0",
    )
    console = Console(stderr=True)
    with _RichProgress(console) as progress:
        result = run_finetune(
            context.settings(ctx),
            base,
            data,
            name,
            eval_data=eval_data,
            options=options,
            resume=resume,
            progress=progress,
        )
    if result.resumed_from:
        console.print(f"resumed at step {result.resumed_from} of {result.steps}")
    if result.eval_loss is not None and result.eval_loss_base is not None:
        console.print(f"eval loss {result.eval_loss_base:.4f} (base) -> {result.eval_loss:.4f} (tuned)")
    if result.gguf is None:
        click.echo(f"adapter and merged checkpoint of {result.name} ({result.seconds:.0f} s)")
    else:
        click.echo(f"model {result.name}: {result.gguf} ({result.seconds:.0f} s)")
        click.echo(f"  gguf sha256    {result.gguf_sha256}")
    click.echo(f"  adapter sha256 {result.adapter_sha256}")
    click.echo(f"  transformers   {result.merged}")
    if result.gguf is None:
        click.echo("no GGUF for a Hugging Face checkpoint base: load merged/ with transformers, or")
        click.echo("convert it with llama.cpp's convert_hf_to_gguf.py and register the file in your config")
    else:
        click.echo(f'try it: weighbridge run -m {result.name} "..."')


#: Options of one kind of fine-tune only (``eval_data`` is ``--eval``).
_TEXT_ONLY = ("eval_data", "max_tokens", "gguf_type")
_IMAGE_ONLY = ("eval_images", "resolution")
#: The options a picture fine-tune takes from the command line when given (else its own
#: defaults), by their names there; ``--max-steps`` (``--steps``) is its exact length.
_IMAGE_OPTIONS = {"max_steps": "steps"} | {
    o: o for o in ("epochs", "lr", "rank", "batch_size", "resolution", "seed", "checkpoint_every")
}


def _given(ctx: click.Context, option: str) -> bool:
    return ctx.get_parameter_source(option) not in (None, click.core.ParameterSource.DEFAULT)


def _finetune_images(
    ctx: click.Context, base: str, images: Path, eval_images: Path | None, name: str, resume: bool
) -> None:
    from rich.console import Console

    from weighbridge.own.image_lora import ImageFinetuneOptions, finetune_images

    chosen = {field: ctx.params[param] for param, field in _IMAGE_OPTIONS.items() if _given(ctx, param)}
    console = Console(stderr=True)
    with _RichProgress(console) as progress:
        result = finetune_images(
            context.settings(ctx),
            base,
            images,
            name,
            eval_images=eval_images,
            options=ImageFinetuneOptions(**chosen),
            resume=resume,
            progress=progress,
        )
    if result.resumed_from:
        console.print(f"resumed at step {result.resumed_from} of {result.steps}")
    if result.eval_loss is not None and result.eval_loss_base is not None:
        console.print(
            f"eval denoising loss {result.eval_loss_base:.4f} (base) -> {result.eval_loss:.4f} (tuned)"
        )
    click.echo(f"model {result.name}: {result.base} with the LoRA {result.adapter} ({result.seconds:.0f} s)")
    click.echo(f"  sha256         {result.sha256}")
    click.echo(f"  base sha256    {result.base_sha256}")
    click.echo(f"  adapter sha256 {result.adapter_sha256}")
    click.echo(f'try it: weighbridge image -m {result.name} "..." -o picture.png')


class _RichProgress:
    """The run's phases as status lines, its steps as a bar with the loss."""

    def __init__(self, console: Console) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._console = console
        self._bar: Bar = Progress(
            TextColumn("training"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TimeRemainingColumn(),
            console=console,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> _RichProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

    def phase(self, text: str) -> None:
        self._bar.stop()
        self._console.print(f"[dim]{text}...[/dim]")

    def start(self, total: int, done: int) -> None:
        self._task = self._bar.add_task("train", total=total, completed=done, loss="-")
        self._bar.start()

    def step(self, step: int, loss: float) -> None:
        if self._task is not None:
            self._bar.update(self._task, completed=step, loss=f"{loss:.4f}")
