"""Which targets a routed request tries, in which order, and why: pure over its inputs."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from weighbridge.config import Settings
from weighbridge.errors import NoRouteError, WeighbridgeError
from weighbridge.routing.breaker import Breakers
from weighbridge.routing.routes import Route
from weighbridge.targets import Target, resolve


@dataclass(frozen=True)
class Choice:
    target: Target
    reason: str
    redact: bool = False


def breaker_key(target: Target) -> str:
    return f"{target.provider_name}/{target.upstream}"


def plan(
    name: str,
    route: Route,
    settings: Settings,
    breakers: Breakers,
    *,
    sensitive: list[str],
    rng: random.Random | None = None,
    in_flight: Mapping[str, int] | None = None,
) -> list[Choice]:
    """The targets to try in order; ``sensitive`` names the kinds of data the guard found and
    ``in_flight`` how many requests each target model is serving now."""
    targets = list(route.targets)
    busy = in_flight or {}
    if route.strategy == "least-outstanding":
        # fewest requests per unit of weight first (a machine of weight 2 takes twice the
        # load); ties drawn at random so idle targets share the first requests
        draw = rng or random.Random()
        targets.sort(key=lambda t: (busy.get(t.model, 0) / t.weight, draw.random()))
    elif route.strategy == "weighted":
        rng = rng or random.Random()
        ordered = []
        while targets:
            pick = rng.choices(targets, weights=[t.weight for t in targets])[0]
            targets.remove(pick)
            ordered.append(pick)
        targets = ordered
    flagged = ", ".join(sorted(set(sensitive)))
    choices: list[Choice] = []
    skipped: list[str] = []
    for spec in targets:
        try:
            target = resolve(settings, spec.model)
        except WeighbridgeError as exc:
            skipped.append(f"{spec.model}: {exc.message}")
            continue
        price = target.entry.price.output_per_mtok if target.entry.price else None
        if spec.max_output_price is not None and price is not None and price > spec.max_output_price:
            skipped.append(f"{spec.model}: ${price:g}/M out is over the route's ${spec.max_output_price:g}")
            continue
        leaves = not target.runs_locally
        if sensitive and leaves and route.privacy == "local-only":
            skipped.append(f"{spec.model}: the request holds {flagged} and the route is local-only")
            continue
        if breakers.state(breaker_key(target)) == "open":
            skipped.append(f"{spec.model}: circuit open after repeated failures")
            continue
        why = "first runnable target" if not choices else "fallback"
        if route.strategy == "weighted" and not choices:
            why = f"drawn by weight {spec.weight:g}"
        elif route.strategy == "least-outstanding" and not choices:
            why = f"least outstanding requests ({busy.get(spec.model, 0)} in flight)"
        redact = bool(sensitive) and leaves and route.privacy == "redact"
        if redact:
            why += f"; {flagged} redacted before it left this machine"
        elif sensitive and not leaves:
            why += f"; holds {flagged}, and this target keeps data on this machine"
        if skipped:
            why += " (skipped " + "; ".join(skipped) + ")"
        choices.append(Choice(target, f"route {name}: {why}", redact))
    if not choices:
        raise NoRouteError(f"no target of route '{name}' can take this request: " + "; ".join(skipped))
    return choices
