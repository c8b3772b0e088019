"""``weighbridge routes``: the routes the config declares, and which of their targets retire."""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING

import click

from weighbridge.cli import context
from weighbridge.cli.models import warn_retiring

if TYPE_CHECKING:
    from weighbridge.routing.routes import Route, RouteTarget


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the routes as JSON.")
@click.pass_context
def routes(ctx: click.Context, as_json: bool) -> None:
    """List the routes ([routes.NAME] in the config): strategy, privacy rule and targets in
    order. A target that retires within 90 days, or has retired, is named on stderr: a route
    falls back past it, but every request through it then pays for the failed try first."""
    from weighbridge.catalog.retirement import retirement_warning

    settings = context.settings(ctx)
    today = date.today()
    warnings = {
        name: [
            line
            for target in route.targets
            if (line := retirement_warning(settings.catalog, target.model, today)) is not None
        ]
        for name, route in settings.routes.items()
    }
    if as_json:
        out = [
            {"route": name, **route.model_dump(), "retirement_warnings": warnings[name]}
            for name, route in settings.routes.items()
        ]
        click.echo(json.dumps(out, indent=2))
        return
    if not settings.routes:
        where = settings.config_path or settings.home / "config.toml"
        click.echo(f"no routes: declare one as [routes.NAME] in {where}")
        return

    from rich.console import Console
    from rich.table import Table

    console = Console(soft_wrap=True)
    if not console.is_terminal:  # a pipe: one line per route
        console = Console(soft_wrap=True, width=1000)
    table = Table(box=None, header_style="bold")
    table.add_column("route", no_wrap=True)
    table.add_column("strategy", no_wrap=True)
    table.add_column("privacy", no_wrap=True)
    table.add_column("budget", justify="right", no_wrap=True)
    table.add_column("targets, in order", overflow="fold")
    for name, route in settings.routes.items():
        budget = "-" if route.budget_usd is None else f"${route.budget_usd:g}"
        targets = ", ".join(_target(t) for t in route.targets)
        table.add_row(name, _strategy(route), route.privacy, budget, targets)
    console.print(table)
    warn_retiring([f"route {name}: {line}" for name, lines in warnings.items() for line in lines])


def _strategy(route: Route) -> str:
    """An auto route's rule in brief: what it chooses on, where its task comes from."""
    if route.strategy != "auto":
        return route.strategy
    rule = route.auto
    parts = [f"auto ({rule.mode})" if rule.mode == "shadow" else "auto"]
    parts.append(
        f"task {rule.task}"
        if rule.task
        else f"tasks by {rule.classify_with}"
        if rule.classify_with
        else "task from the request"
    )
    parts.append(f">= {rule.min_quality:.0%} of best" if rule.min_quality else "indistinguishable from best")
    if rule.max_latency_s:
        parts.append(f"p50 <= {rule.max_latency_s:g} s")
    if rule.explore:
        parts.append(f"explore {rule.explore:.0%}")
    return ", ".join(parts)


def _target(target: RouteTarget) -> str:
    extras = []
    if target.weight != 1.0:
        extras.append(f"weight {target.weight:g}")
    if target.max_output_price is not None:
        extras.append(f"at most ${target.max_output_price:g}/M out")
    return target.model + (f" ({', '.join(extras)})" if extras else "")
