"""``weighbridge crossover``: the monthly volume where self-hosting a model gets cheaper than
calling an API, from measured throughput, a hardware price and your own traffic mix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from weighbridge.cli import context

if TYPE_CHECKING:
    from weighbridge.money.report import Report


def _list_presets(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """``--presets``: the hardware presets with their prices and sources, then exit."""
    if not value or ctx.resilient_parsing:
        return
    from rich.console import Console
    from rich.table import Table

    from weighbridge.money.presets import presets

    table = Table(box=None, header_style="bold")
    for column in ("preset", "$ / hour", "unit", "terms", "as of", "source"):
        table.add_column(column, justify="right" if column == "$ / hour" else "left")
    for name, entry in sorted(presets().items(), key=lambda item: item[1].usd_per_hour):
        table.add_row(name, f"{entry.usd_per_hour:g}", entry.unit, entry.price, entry.as_of, entry.source)
    Console(soft_wrap=True).print(table)
    ctx.exit(0)


@click.command()
@click.option(
    "--presets",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_list_presets,
    help="List the hardware presets (price, terms, source, date) and exit.",
)
@click.option("--local", "local", required=True, help="The open model you would host (catalog id or .gguf).")
@click.option(
    "--api", "apis", multiple=True, required=True, help="A priced catalog model to compare; repeatable."
)
@click.option(
    "--tokens-per-s",
    type=float,
    help="Aggregate output tokens/s of one machine (default: the model's last stored serving "
    "benchmark, else measured here).",
)
@click.option("--measure", is_flag=True, help="Measure here even when a serving benchmark is stored.")
@click.option(
    "--prefill-tokens-per-s", type=float, help="Input tokens/s of one machine (default: 10x decode)."
)
@click.option("--usd-per-hour", type=float, help="What one machine costs per hour.")
@click.option(
    "--preset", "preset_name", help="A named cloud machine instead of --usd-per-hour (see --presets)."
)
@click.option(
    "--utilisation", type=float, help="Share of the hours a machine is kept busy, 0-1 (default: config)."
)
@click.option(
    "--input-share", type=float, help="Input tokens as a share of all, 0-1 (default: from your log)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option(
    "--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), help="Write an HTML report."
)
@click.option(
    "--png", "png_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the chart as PNG."
)
@click.pass_context
def crossover(
    ctx: click.Context,
    local: str,
    apis: tuple[str, ...],
    tokens_per_s: float | None,
    prefill_tokens_per_s: float | None,
    usd_per_hour: float | None,
    preset_name: str | None,
    utilisation: float | None,
    input_share: float | None,
    measure: bool,
    as_json: bool,
    html_path: Path | None,
    png_path: Path | None,
) -> None:
    """Cost per million tokens of self-hosting LOCAL against each API, and the monthly volume
    where self-hosting becomes cheaper. Machines are added as each one fills up, so the
    self-hosted cost rises in steps; the table says how many each volume needs."""
    from weighbridge.money import inputs, report, throughput
    from weighbridge.money.spend import input_share as logged_share

    settings = context.settings(ctx)
    inputs.check_local(settings, local)
    options = inputs.Options(
        local, list(apis), prefill_tokens_per_s, usd_per_hour, preset_name, utilisation, input_share
    )
    inputs.check(settings, options)  # a bad option fails before any measured run
    store = settings.open_store()
    try:
        logged = logged_share(store, exclude_source=throughput.SOURCE) if input_share is None else None
        benchmarked = (
            None if measure or tokens_per_s is not None else throughput.stored(store, settings, local)
        )
    finally:
        store.close()
    if tokens_per_s is not None:
        measured = inputs.given_throughput(tokens_per_s)
    elif benchmarked is not None:
        measured = benchmarked
    else:
        if not as_json:
            click.echo(f"measuring {local} on this machine (pass --tokens-per-s to skip)...", err=True)
        measured = throughput.measure(context.client(ctx, source=throughput.SOURCE), local)
    gathered = inputs.gather(settings, options, measured, logged)
    result = report.build(gathered)
    if html_path is not None:
        from weighbridge.money import html

        _write(html_path, html.render(result))
    if png_path is not None:
        from weighbridge.money import chart, png

        png.write(chart.build(result.scenario, result.crossings, [r.volume for r in result.rows]), png_path)
    if as_json:
        click.echo(json.dumps(report.to_json(result), indent=2))
    else:
        _print(result)


def _write(path: Path, text: str) -> None:
    from weighbridge.errors import InvalidRequestError

    try:
        path.write_text(text, "utf-8")
    except OSError as exc:
        raise InvalidRequestError(f"cannot write {path}: {exc.strerror or exc}") from None


def _print(result: Report) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from weighbridge.money.report import tokens, verdict

    s = result.scenario
    console = Console(soft_wrap=True)
    console.print(
        f"[bold]{escape(s.local_model)}[/bold] on one machine: {s.decode_tokens_per_s:,.1f} output tokens/s, "
        f"{s.prefill_tokens_per_s:,.1f} input tokens/s, ${s.usd_per_hour:g}/h, "
        f"kept {s.utilisation:.0%} busy, "
        f"{s.input_share:.0%} of tokens input: {tokens(s.capacity)} tokens/month per machine, "
        f"${s.floor_per_mtok:.4g} per million tokens when full."
    )
    for name, note in result.inputs.notes.items():
        console.print(f"  {name}: {note}", highlight=False, markup=False)
    summary = Table(box=None, header_style="bold")
    for column in ("API", "$ / M tokens", "crossover", "cheaper for good from", "x cheaper at scale"):
        summary.add_column(column, justify="left" if column == "API" else "right")
    for c in result.crossings:
        summary.add_row(
            escape(c.api.model),
            f"{c.api_per_mtok:.4g}",
            tokens(c.first) if c.first is not None else "never",
            tokens(c.for_good) if c.for_good is not None else "never",
            f"{c.times_cheaper_at_scale:.3g}",
        )
    console.print(summary)
    for c in result.crossings:
        console.print(f"  {c.api.model}: {verdict(c)}", highlight=False, markup=False)
    monthly = Table(title="Cost per month", box=None, header_style="bold")
    monthly.add_column("tokens / month", justify="right")
    monthly.add_column("machines", justify="right")
    monthly.add_column("self-hosted", justify="right")
    monthly.add_column("self $ / M", justify="right")
    for api in s.apis:
        monthly.add_column(escape(api.model), justify="right")
    for row in result.rows:
        costs = [row.self_hosted_usd, *row.api_usd]
        best = min(costs)
        cells = [f"[bold]${c:,.2f}[/bold]" if c == best else f"${c:,.2f}" for c in costs]
        monthly.add_row(
            tokens(row.volume), str(row.machines), cells[0], f"{row.self_per_mtok:.4g}", *cells[1:]
        )
    console.print(monthly)
