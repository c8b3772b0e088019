"""Which targets a routed request tries, in which order, and why: pure over its inputs."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from weighbridge.config import Settings
from weighbridge.errors import NoRouteError, WeighbridgeError
from weighbridge.providers.images import not_for_chat as not_for_chat_message
from weighbridge.routing.advice import Advisor, Tagged
from weighbridge.routing.breaker import Breakers
from weighbridge.routing.routes import Route, RouteTarget
from weighbridge.targets import Target, resolve


@dataclass(frozen=True)
class Choice:
    target: Target
    reason: str
    redact: bool = False


def breaker_key(target: Target) -> str:
    return f"{target.provider_name}/{target.upstream}"


def not_for_chat(target: Target) -> str | None:
    """Why ``target`` cannot take a chat, if it cannot: an image model answers pictures."""
    if target.entry.modality == "image" or not target.capabilities.offers("chat"):
        return not_for_chat_message(target.model_id).message
    return None


def _not_for_images(target: Target) -> str | None:
    if not target.capabilities.offers("images"):
        return f"{target.model_id} does not make images"
    return None


def plan(
    name: str,
    route: Route,
    settings: Settings,
    breakers: Breakers,
    *,
    sensitive: list[str],
    rng: random.Random | None = None,
    in_flight: Mapping[str, int] | None = None,
    task: str | None = None,
    advisor: Advisor | None = None,
    tagged: Tagged | None = None,
    over_budget: Mapping[str, float] | None = None,
    operation: Literal["chat", "images"] = "chat",
) -> list[Choice]:
    """The targets to try in order; ``sensitive`` names the kinds of data the guard found,
    ``in_flight`` how many requests each target model is serving now, ``task`` what the
    request is (for ``auto``, which asks ``advisor``), and ``over_budget`` the targets whose
    worst case the caller's budgets cannot hold now."""
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
    allowed: list[tuple[RouteTarget, Target, str, bool]] = []  # (.., what privacy did, redacted)
    skipped: list[str] = []
    for spec in targets:
        try:
            target = resolve(settings, spec.model)
        except WeighbridgeError as exc:
            skipped.append(f"{spec.model}: {exc.message}")
            continue
        why = not_for_chat(target) if operation == "chat" else _not_for_images(target)
        if why is not None:
            skipped.append(f"{spec.model}: {why}")
            continue
        price = target.entry.price.output_per_mtok if target.entry.price else None
        if spec.max_output_price is not None and price is not None and price > spec.max_output_price:
            skipped.append(f"{spec.model}: ${price:g}/M out is over the route's ${spec.max_output_price:g}")
            continue
        leaves = not target.runs_locally
        if sensitive and leaves and route.privacy == "local-only":
            skipped.append(f"{spec.model}: the request holds {flagged} and the route is local-only")
            continue
        if over_budget and target.model_id in over_budget:
            worst = over_budget[target.model_id]
            skipped.append(f"{spec.model}: could cost up to ${worst:.6f}, more than the budget has left")
            continue
        if breakers.state(breaker_key(target)) == "open":
            skipped.append(f"{spec.model}: circuit open after repeated failures")
            continue
        redact = bool(sensitive) and leaves and route.privacy == "redact"
        if redact:
            note = f"; {flagged} redacted before it left this machine"
        elif sensitive and not leaves:
            note = f"; holds {flagged}, and this target keeps data on this machine"
        else:
            note = ""
        allowed.append((spec, target, note, redact))
    if not allowed:
        raise NoRouteError(f"no target of route '{name}' can take this request: " + "; ".join(skipped))
    if route.strategy == "least-outstanding":
        first = f"least outstanding requests ({busy.get(allowed[0][0].model, 0)} in flight)"
    elif route.strategy == "weighted":
        first = f"drawn by weight {allowed[0][0].weight:g}"
    elif route.strategy == "auto":
        default = next((i for i, a in enumerate(allowed) if a[0].model == route.auto.default), 0)
        models = [target.model_id for _, target, _, _ in allowed]
        picked, first = auto(name, route, models, default, task, advisor, rng)
        if tagged is not None and task == tagged.task:
            first = f"{first} (task {tagged.reason})"
        allowed.insert(0, allowed.pop(picked))
    else:
        first = "first runnable target"
    tail = " (skipped " + "; ".join(skipped) + ")" if skipped else ""
    return [
        Choice(target, f"route {name}: {first if i == 0 else 'fallback'}{note}{tail}", redact)
        for i, (_, target, note, redact) in enumerate(allowed)
    ]


def auto(
    name: str,
    route: Route,
    models: list[str],
    default_index: int,
    task: str | None,
    advisor: Advisor | None,
    rng: random.Random | None,
) -> tuple[int, str]:
    """Which of ``models`` (allowed, in the route's order) goes first, and why. In shadow mode
    the order stands, and the reason says what auto would have chosen."""
    rule = route.auto
    default = models[default_index]
    if task is None:
        picked, why = default, "no task: the request names none (x-weighbridge-task) and the route sets none"
    elif advisor is None:
        picked, why = default, "auto: this client has no evidence to choose on"
    else:
        advice = advisor.advise(name, task, rule, models)
        draw = rng or random.Random()
        if advice.thin and rule.explore and draw.random() < rule.explore:
            picked = draw.choice(advice.thin)
            why = (
                f"{task}: exploring {picked}, whose evidence is thin ({rule.explore:.0%} of requests explore)"
            )
        elif advice.model is None:
            picked, why = default, f"{advice.reason}; the default target {default}"
        else:
            picked, why = advice.model, advice.reason
    if rule.mode == "shadow":
        return 0, f"first runnable target; auto (shadow) would choose {picked}: {why}"
    return models.index(picked), f"auto: {why}"
