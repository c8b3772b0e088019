"""What the inference log says of each model: its speed and price per weights, and the weights
it answered with last.

Every successful call counts, whatever asked it (``run``, the gateway, compare, the arena), so
the figures are the ones traffic will see; they are per weights because a new quantization or
snapshot is a new speed and price. Costs are added exactly (:mod:`weighbridge.money.amounts`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from weighbridge.compare.stats import percentile
from weighbridge.evidence.rows import Speed, weights_of
from weighbridge.money.amounts import exact
from weighbridge.store.database import Connection


@dataclass
class Logged:
    #: (model, weights) -> what its calls measured
    speeds: dict[tuple[str, str | None], Speed] = field(default_factory=dict)
    #: model -> (when, weights) of its newest call that named its weights
    newest: dict[str, tuple[str, str]] = field(default_factory=dict)


def read(db: Connection, models: Iterable[str]) -> Logged:
    logged = Logged()
    for model in models:
        rows = db.execute(
            "SELECT weight_sha256, upstream_model, latency_ms, cost_usd, created_at FROM inferences "
            "WHERE model = ? AND status = 'ok'",
            (model,),
        ).fetchall()
        calls: dict[str | None, list[tuple[float | None, float | None]]] = defaultdict(list)
        for sha, upstream, latency_ms, cost_usd, at in rows:
            weights = weights_of(sha, upstream)
            calls[weights].append((latency_ms, cost_usd))
            if weights is not None and (model not in logged.newest or at > logged.newest[model][0]):
                logged.newest[model] = (at, weights)
        for weights, measured in calls.items():
            logged.speeds[(model, weights)] = _speed(measured)
    return logged


def _speed(measured: list[tuple[float | None, float | None]]) -> Speed:
    latencies = [ms / 1000 for ms, _ in measured if ms is not None]
    costs = [cost for _, cost in measured if cost is not None]
    mean_cost = float(sum(map(exact, costs)) / len(costs)) if costs else None
    return Speed(len(measured), percentile(latencies, 50), mean_cost)
