"""``weighbridge drift``: canary prompts against a stored baseline, to catch silent changes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from weighbridge.cli import context

if TYPE_CHECKING:
    from weighbridge.own.drift import Identity


@click.command()
@click.argument("model")
@click.option(
    "--canary",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help='JSONL of prompts: {"id": ..., "prompt": ...} or {"id": ..., "messages": [...]}.',
)
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1),
    default=0.9,
    show_default=True,
    help="Mean similarity below which the model has drifted.",
)
@click.option("--rebaseline", is_flag=True, help="Forget the stored answers and record new ones.")
@click.option("--max-tokens", type=click.IntRange(1), default=64, show_default=True)
@click.pass_context
def drift(
    ctx: click.Context, model: str, canary: str, threshold: float, rebaseline: bool, max_tokens: int
) -> None:
    """Ask MODEL every canary prompt at temperature 0 (seed 0 where the provider takes one).
    The first run stores the answers as the baseline; later runs compare exact matches, a
    similarity score and the model id / weight hash with it. Exit code 1 on drift."""
    from pathlib import Path

    from rich.console import Console
    from rich.table import Table

    from weighbridge.own.drift import SIMILARITY, load_canaries, run_drift

    canaries = load_canaries(Path(canary))
    report = run_drift(
        context.client(ctx, source="drift"),
        model,
        canaries,
        threshold=threshold,
        rebaseline=rebaseline,
        max_tokens=max_tokens,
    )
    if not report.compared:
        click.echo(f"baseline stored for {model}: {report.baselined} prompts; run again to compare")
        return
    table = Table(box=None, header_style="bold")
    for column in ("prompt", "exact", "similarity", "answer now"):
        table.add_column(column, justify="right" if column == "similarity" else "left")
    for prompt in report.prompts:
        if prompt.baseline is None:
            table.add_row(prompt.id, "-", "new: baselined", _clip(prompt.output))
            continue
        low = prompt.similarity is not None and prompt.similarity < threshold
        score = f"{prompt.similarity:.3f}" if prompt.similarity is not None else "-"
        shown = f"[red]{score}[/]" if low else score
        table.add_row(prompt.id, "yes" if prompt.exact else "no", shown, _clip(prompt.output))
    Console(soft_wrap=True).print(table)
    exact, similarity = report.exact_match_rate or 0.0, report.similarity or 0.0
    click.echo(
        f"{len(report.compared)} prompts: exact match {exact:.0%}, mean similarity {similarity:.3f} "
        f"({SIMILARITY}), threshold {threshold:g}"
    )
    click.echo(f"then: {_who(report.then)}")
    click.echo(f"now:  {_who(report.now)}")
    if report.changed:
        click.echo(f"DRIFT: {'; '.join(report.reasons)}", err=True)
        ctx.exit(1)
    click.echo("no drift")


def _who(identity: Identity) -> str:
    parts = [f"model id {m}" for m in identity.upstream_models]
    parts += [f"weights sha256 {s}" for s in identity.weight_sha256s]
    return ", ".join(parts) or "no model id or weight hash reported"


def _clip(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
