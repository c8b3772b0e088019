"""The lines a crossover chart draws, in data: cost per month against monthly volume for
self-hosting (a staircase, one step per machine) and for each API (a straight line), plus the
crossings to mark. The SVG and PNG renderers both draw exactly these, so the two never
disagree."""

from __future__ import annotations

import math
from dataclasses import dataclass

from weighbridge.money.crossover import Crossover, Scenario
from weighbridge.money.report import tokens

#: Beyond this many steps a staircase is drawn from its corners at each decade's points; a
#: step that narrow is thinner than a pixel on a log axis anyway.
MAX_STEPS = 400
_SAMPLES_PER_DECADE = 24


@dataclass(frozen=True)
class Series:
    label: str
    points: list[tuple[float, float]]


@dataclass(frozen=True)
class Mark:
    label: str
    volume: float
    usd: float
    #: The volume at a glance ("49M"), drawn beside the mark.
    short: str


@dataclass(frozen=True)
class Chart:
    title: str
    low: float
    high: float
    series: list[Series]
    marks: list[Mark]


def self_hosted_points(scenario: Scenario, low: float, high: float) -> list[tuple[float, float]]:
    """The staircase: flat at n machine-months until n machines are full, then a step up."""
    capacity, month = scenario.capacity, scenario.machine_month_usd
    first, last = scenario.machines(low), scenario.machines(high)
    if last - first <= MAX_STEPS:
        points = [(low, first * month)]
        for n in range(first, last):
            points += [(n * capacity, n * month), (n * capacity, (n + 1) * month)]
        return [*points, (high, last * month)]
    count = int(_SAMPLES_PER_DECADE * max(1.0, math.log10(high / low)))
    volumes = [low * (high / low) ** (i / count) for i in range(count + 1)]
    return [(v, scenario.self_hosted_usd(v)) for v in volumes]


def build(scenario: Scenario, crossings: list[Crossover], volumes: list[float]) -> Chart:
    low, high = min(volumes), max(volumes)
    series = [Series(f"self-hosted {scenario.local_model}", self_hosted_points(scenario, low, high))]
    for api in scenario.apis:
        series.append(
            Series(api.model, [(low, scenario.api_usd(api, low)), (high, scenario.api_usd(api, high))])
        )
    marks = [
        Mark(
            f"{c.api.model}: self-hosting cheaper from here",
            c.first,
            scenario.self_hosted_usd(c.first),
            tokens(c.first),
        )
        for c in crossings
        if c.first is not None and low <= c.first <= high and c.first > 0
    ]
    against = ", ".join(a.model for a in scenario.apis)
    title = f"Monthly cost: {scenario.local_model} self-hosted against {against}"
    return Chart(title, low, high, series, marks)
