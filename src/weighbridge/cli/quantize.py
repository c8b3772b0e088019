"""``weighbridge quantize``: a smaller local model, with the size, speed and quality change measured."""

from __future__ import annotations

import click

from weighbridge.cli import context


@click.command()
@click.argument("model")
@click.option(
    "--type",
    "qtype",
    required=True,
    help="llama.cpp type: q8_0, q6_k, q5_k_m, q5_0, q4_k_m, q4_0, q3_k_m, q2_k, iq4_xs, f16...",
)
@click.option("--name", help="Catalog name of the result (default: MODEL-TYPE).")
@click.option(
    "--text",
    type=click.Path(exists=True, dir_okay=False),
    help="Held-out text for perplexity (default: English prose shipped with weighbridge).",
)
@click.option(
    "--ctx", "n_ctx", type=click.IntRange(16, 8192), default=512, show_default=True, help="Perplexity window."
)
@click.pass_context
def quantize(
    ctx: click.Context, model: str, qtype: str, name: str | None, text: str | None, n_ctx: int
) -> None:
    """Quantize MODEL's GGUF with llama.cpp into $WEIGHBRIDGE_HOME/models/NAME.gguf, register
    it as the model NAME, and report file size, decode tokens/s and held-out perplexity before
    and after."""
    from pathlib import Path

    from rich.console import Console
    from rich.table import Table

    from weighbridge.own.quantize import quantize_model

    settings = context.settings(ctx)
    store = settings.open_store()
    try:
        result = quantize_model(
            settings, store, model, qtype, name=name, text=Path(text) if text else None, n_ctx=n_ctx
        )
    finally:
        store.close()
    before, after = result.before, result.after
    table = Table(box=None, header_style="bold")
    table.add_column("")
    for column in (f"{model} ({result.source_type})", f"{result.name} ({result.qtype})", "change"):
        table.add_column(column, justify="right")
    rows = [
        ("file size", before.size_bytes / 1e6, after.size_bytes / 1e6, " MB"),
        ("decode tokens/s", before.tokens_per_s, after.tokens_per_s, ""),
        ("perplexity", before.perplexity, after.perplexity, ""),
    ]
    for label, was, now, unit in rows:
        table.add_row(label, _num(was, unit), _num(now, unit), _pct(was, now))
    Console(soft_wrap=True).print(table)
    click.echo(
        f"perplexity: {after.tokens_scored} tokens of held-out text in windows of {n_ctx} (lower is better); "
        "speed: greedy decode of the same prompt, best of two runs"
    )
    if result.requantized:
        click.echo(
            f"note: {model} is already quantized ({result.source_type}); requantizing it loses more "
            "than quantizing the f16/bf16 original to the same type would."
        )
    click.echo(f"registered '{result.name}': {result.path} (sha256 {result.sha256})")


def _num(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.2f}{unit}"


def _pct(before: float | None, after: float | None) -> str:
    if not before or after is None:
        return "-"
    return f"{(after - before) / before:+.1%}"
