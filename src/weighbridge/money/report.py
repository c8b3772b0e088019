"""A crossover result as one object: the inputs and where they came from, the crossing with
each API, and the monthly table. The terminal table, ``--json`` and ``--html`` all render
this, so they always say the same thing."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from weighbridge.money.crossover import (
    HOURS_PER_MONTH,
    Crossover,
    Row,
    Scenario,
    crossover,
    default_volumes,
    table,
)
from weighbridge.money.inputs import Inputs


@dataclass(frozen=True)
class Report:
    inputs: Inputs
    crossings: list[Crossover]
    rows: list[Row]

    @property
    def scenario(self) -> Scenario:
        return self.inputs.scenario


def build(inputs: Inputs, volumes: list[float] | None = None) -> Report:
    scenario = inputs.scenario
    crossings = [crossover(scenario, api) for api in scenario.apis]
    chosen = volumes or default_volumes(scenario, crossings)
    return Report(inputs, crossings, table(scenario, chosen))


def verdict(c: Crossover) -> str:
    """One sentence on where self-hosting wins against one API."""
    if c.first is None:
        return (
            f"never: {c.api.model} costs less per token than even a fully used machine "
            f"(its price is {c.times_cheaper_at_scale:.2g}x self-hosting's at full load)"
        )
    text = f"from {tokens(c.first)} tokens/month"
    if c.api_window_count is None:
        return text + ", but each new machine hands the lead back: at full load the two cost the same"
    if c.api_window_count:
        windows = "s" if c.api_window_count > 1 else ""
        text += (
            f"; the API is cheaper again just after {c.api_window_count} machine step{windows}, "
            f"for good from {tokens(c.for_good or c.first)}"
        )
    return text + f"; {c.times_cheaper_at_scale:.2g}x cheaper at scale"


def tokens(volume: float) -> str:
    """``120M``, ``3.4B``: a token count at a glance."""
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if volume >= size:
            return f"{volume / size:.3g}{suffix}"
    return f"{volume:.3g}"


def to_json(report: Report) -> dict[str, Any]:
    s = report.scenario
    return {
        "local_model": s.local_model,
        "inputs": {
            "decode_tokens_per_s": s.decode_tokens_per_s,
            "prefill_tokens_per_s": s.prefill_tokens_per_s,
            "usd_per_hour": s.usd_per_hour,
            "utilisation": s.utilisation,
            "input_share": s.input_share,
            "hours_per_month": HOURS_PER_MONTH,
            "sources": report.inputs.notes,
        },
        "machine": {
            "tokens_per_month_capacity": s.capacity,
            "usd_per_month": s.machine_month_usd,
            "usd_per_mtok_when_full": s.floor_per_mtok,
        },
        "apis": [
            {
                "model": c.api.model,
                "input_per_mtok": c.api.input_per_mtok,
                "output_per_mtok": c.api.output_per_mtok,
                "price_source": c.api.source,
                "usd_per_mtok": c.api_per_mtok,
                "crossover_tokens_per_month": c.first,
                "cheaper_for_good_from": c.for_good,
                "api_cheaper_again": [list(w) for w in c.api_windows],
                "api_cheaper_again_count": c.api_window_count,
                "times_cheaper_at_scale": c.times_cheaper_at_scale
                if math.isfinite(c.times_cheaper_at_scale)
                else None,
                "verdict": verdict(c),
            }
            for c in report.crossings
        ],
        "table": [
            {
                "tokens_per_month": r.volume,
                "machines": r.machines,
                "self_hosted_usd": r.self_hosted_usd,
                "self_hosted_usd_per_mtok": r.self_per_mtok,
                "api_usd": {api.model: cost for api, cost in zip(s.apis, r.api_usd, strict=True)},
            }
            for r in report.rows
        ],
    }
