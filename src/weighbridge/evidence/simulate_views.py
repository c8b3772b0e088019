"""A simulation as ``weighbridge route simulate`` shows it: every figure as JSON, and the
quality-against-cost chart (:mod:`weighbridge.evidence.simulate` makes the figures)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from weighbridge.errors import InvalidRequestError
from weighbridge.evidence.simulate import SWEEP_LABEL, Policy, Simulation
from weighbridge.money.amounts import format_cost
from weighbridge.money.chart import Chart, Series

#: Chart files by suffix: what matplotlib writes them as.
CHART_FORMATS = {".png": "png", ".svg": "svg"}


def as_json(simulation: Simulation) -> dict[str, Any]:
    """Every figure, as ``--json`` prints it."""
    s = simulation
    return {
        "route": s.route,
        "strategy": s.strategy,
        "rule": s.rule.model_dump(),
        "holdout": s.holdout,
        "seed": s.seed,
        "targets": [
            {"model": m, "cost_per_call_usd": s.costs[m], "train_quality": s.train_quality.get(m)}
            for m in s.targets
        ],
        "default": s.default,
        "best": s.best,
        "cheapest": s.cheapest,
        "tasks": [
            {
                "task": t.task,
                "model": t.answered_by,
                "reason": t.advice.reason,
                "too_thin": t.advice.model is None,
                "thin": list(t.advice.thin),
                "train_items": dict(t.train),
                "held_out_items": t.held_out,
                "sweep": [{"min_quality": q, "model": m} for q, m in t.sweep.items()],
                "votes": {"held_out": t.votes, "won": t.won},
            }
            for t in s.tasks
        ],
        "policies": {p.name: _policy_json(p) for p in s.policies},
        "sweep": [_policy_json(p) for p in s.sweep],
        "apgr": s.apgr,
        "notes": list(s.notes),
    }


def _policy_json(policy: Policy) -> dict[str, Any]:
    found = asdict(policy)
    found["picks"], found["unpriced"] = dict(policy.picks), list(policy.unpriced)
    return found


def chart(simulation: Simulation) -> Chart:
    """Quality on the held-out items against cost per call: the sweep as a curve, the three
    policies as points. A policy without both figures cannot be placed: the title names it."""

    def placed(policies: Sequence[Policy]) -> list[tuple[float, float]]:
        return sorted(
            (p.cost_per_call_usd, p.quality)
            for p in policies
            if p.cost_per_call_usd is not None and p.quality is not None
        )

    series = [Series(SWEEP_LABEL, placed(simulation.sweep))]
    for p in simulation.policies:
        model = next(iter(set(p.picks.values()))) if len(set(p.picks.values())) == 1 else "per task"
        series.append(Series(f"{p.name} ({model})", placed([p])))
    drawn = [s for s in series if s.points]
    if not drawn:
        raise InvalidRequestError(
            "nothing to chart: no policy has both a held-out quality and a known cost per call"
        )
    left = [p.name for p in simulation.policies if not placed([p])]
    title = f"route {simulation.route}: quality against cost per call, on held-out items"
    if left:
        title += f" (not drawn, cost or quality unknown: {', '.join(left)})"
    costs = [x for s in drawn for x, _ in s.points]
    return Chart(title, min(costs), max(costs), drawn, [])


def write_chart(simulation: Simulation, path: Path) -> None:
    """The chart as a PNG or an SVG, by ``path``'s suffix, through matplotlib (imported here,
    when one is drawn), with linear axes: quality and cost both start near zero."""
    kind = CHART_FORMATS.get(path.suffix.lower())
    if kind is None:
        raise InvalidRequestError(f"cannot draw {path}: the chart is a .png or an .svg")
    drawn = chart(simulation)
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    figure = Figure(figsize=(8, 5), dpi=110)
    axes = figure.subplots()
    for series in drawn.series:
        xs = [x for x, _ in series.points]
        ys = [y for _, y in series.points]
        if series.label == SWEEP_LABEL:
            axes.plot(xs, ys, label=series.label, marker="x", markersize=8, linewidth=1.6, color="#777777")
        else:
            axes.plot(xs, ys, label=series.label, marker="o", markersize=9, linestyle="none")
    axes.xaxis.set_major_locator(MaxNLocator(5))  # costs below a cent print long
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: format_cost(value)))
    axes.set_xlabel("cost per call (USD, from the log)")
    axes.set_ylabel("quality on the held-out items")
    axes.set_title(drawn.title, fontsize=9)
    axes.grid(True, color="#e5e5e5")
    axes.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    try:
        figure.savefig(path, format=kind)
    except OSError as exc:
        raise InvalidRequestError(f"cannot write {path}: {exc.strerror or exc}") from None
