"""``weighbridge route simulate ROUTE``: an auto route's choices replayed on held-out evidence,
so what it keeps and saves is known before it is turned on (:mod:`weighbridge.evidence.simulate`).

``route`` is a group of its own, beside ``routes`` (the list), for what is done to one route.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from weighbridge.cli import context

if TYPE_CHECKING:
    from weighbridge.evidence.simulate import Policy, Simulation


@click.group()
def route() -> None:
    """One route of the config ([routes.NAME]); `weighbridge routes` lists them."""


@route.command()
@click.argument("name", metavar="ROUTE")
@click.option(
    "--task",
    "tasks",
    multiple=True,
    help="Only this task (repeat for more). Default: the route's auto.task, else every task "
    "scored on two or more of its targets.",
)
@click.option(
    "--holdout",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.5,
    show_default=True,
    help="The share of items and votes held out to score the choices on.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Another seed draws another split.")
@click.option("--json", "as_json", is_flag=True, help="Print every figure as JSON.")
@click.option(
    "--chart",
    "chart_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also draw quality against cost per call: FILE.png or FILE.svg.",
)
@click.pass_context
def simulate(
    ctx: click.Context,
    name: str,
    tasks: tuple[str, ...],
    holdout: float,
    seed: int,
    as_json: bool,
    chart_path: Path | None,
) -> None:
    """Replay ROUTE's auto choice on compare results and arena votes it did not choose on, and
    weigh it against always the best target and always the cheapest: quality kept, cost saved,
    PGR, and APGR over a min_quality sweep, as RouteLLM reports a router.

    Auto chooses per task on one part of the evidence and is scored on the rest. A route that is
    not auto yet is simulated with its [routes.NAME.auto] settings.
    """
    from weighbridge.evidence import simulate as replay
    from weighbridge.evidence import simulate_views as views

    if chart_path is not None and chart_path.suffix.lower() not in views.CHART_FORMATS:
        raise click.BadParameter("the chart is drawn as FILE.png or FILE.svg", param_hint="--chart")
    settings = context.settings(ctx)
    store = settings.open_store()
    try:
        simulation = replay.simulate(settings, store, name, tasks=tasks, holdout=holdout, seed=seed)
    finally:
        store.close()
    if chart_path is not None and simulation.tasks:
        views.write_chart(simulation, chart_path)
    if as_json:
        click.echo(json.dumps(views.as_json(simulation), indent=2))
    elif not simulation.tasks:
        click.echo("\n".join(simulation.notes))
    else:
        _print(simulation)


def _print(simulation: Simulation) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from weighbridge.money.amounts import format_cost

    s = simulation
    console = Console(soft_wrap=True)
    if not console.is_terminal:  # a pipe: one line per row
        console = Console(soft_wrap=True, width=1000)
    console.print(
        Text(
            f"route {s.route} ({s.strategy}): {len(s.tasks)} task(s), {s.holdout:.0%} held out "
            f"(seed {s.seed}); best {s.best or '-'}, cheapest {s.cheapest or '-'}"
        )
    )
    table = Table(box=None, header_style="bold")
    table.add_column("policy", no_wrap=True)
    table.add_column("model")
    for column in ("quality [95% CI]", "n", "cost/call", "quality kept", "cost saved", "PGR"):
        table.add_column(column, justify="left" if column.startswith("quality [") else "right")
    for policy in (*s.policies, *s.sweep):
        table.add_row(
            Text(policy.name),
            Text(_model(policy)),
            "-" if policy.quality is None else f"{policy.quality:.2f} [{policy.low:.2f}, {policy.high:.2f}]",
            str(policy.items),
            format_cost(policy.cost_per_call_usd),
            _share(policy.quality_kept),
            _share(policy.cost_saved),
            "-" if policy.pgr is None else f"{policy.pgr:.2f}",
        )
    console.print(table)
    apgr = "-" if s.apgr is None else f"{s.apgr:.2f}"
    console.print(Text(f"APGR {apgr}: mean PGR over the min_quality sweep, by cost share"))
    for task in s.tasks:
        won = "" if task.won is None else f", {task.won:.0%} won by {task.answered_by}"
        console.print(
            Text(
                f"{task.task}: {task.answered_by} answers; {task.held_out} held-out items, "
                f"{task.votes} held-out votes{won}"
            )
        )
        console.print(Text(f"  {task.advice.reason}", style="dim"))
    for note in s.notes:
        console.print(Text(f"note: {note}"))


def _model(policy: Policy) -> str:
    models = set(policy.picks.values())
    return next(iter(models)) if len(models) == 1 else "per task"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
