"""The shape of a route in the user's config, and which failures move a request on to the
next target."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from weighbridge.errors import (
    MissingKeyError,
    ModelLoadError,
    NoRouteError,
    ProviderError,
    ProviderTimeoutError,
    WeighbridgeError,
)

FailureClass = Literal["rate_limited", "overloaded", "server_error", "timeout", "connect", "unavailable"]
ALL_FAILURES: list[FailureClass] = [
    "rate_limited",
    "overloaded",
    "server_error",
    "timeout",
    "connect",
    "unavailable",
]


class RouteTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    weight: float = Field(default=1.0, gt=0)
    #: Skip this target when its catalog output price per million tokens is above this.
    max_output_price: float | None = Field(default=None, ge=0)


class Auto(BaseModel):
    """``[routes.NAME.auto]``: how ``strategy = "auto"`` weighs the evidence
    (:mod:`weighbridge.routing.auto`)."""

    model_config = ConfigDict(extra="forbid")

    #: ``live``: requests go where the evidence points; ``shadow``: the targets keep their
    #: order, and what auto would have chosen is only said, in the log and the reason.
    mode: Literal["live", "shadow"] = "live"
    #: The task of a request that names none (``x-weighbridge-task``, ``metadata.task``).
    task: str | None = None
    #: A local model whose embeddings find the task of a request that names none, from the
    #: nearest prompts of the stored compare runs; nothing leaves the machine.
    classify_with: str | None = None
    #: Instead of "cannot be told apart from the best": at least this share of the best's quality.
    min_quality: float | None = Field(default=None, gt=0, le=1)
    #: Leave out targets whose median latency in the log is above this.
    max_latency_s: float | None = Field(default=None, gt=0)
    #: Fewer scored items (or votes) than this on the task is too thin to choose on.
    min_items: int = Field(default=10, ge=1)
    #: The share of requests sent to a target with thin evidence, to keep the estimates fresh.
    explore: float = Field(default=0.0, ge=0, lt=1)
    #: The target used while the evidence is too thin; the first target when unset.
    default: str | None = None


class Route(BaseModel):
    """``[routes.NAME]`` in the config."""

    model_config = ConfigDict(extra="forbid")

    targets: list[RouteTarget] = Field(min_length=1)
    #: ``ordered``: first runnable target first; ``weighted``: shuffled by weight each request;
    #: ``least-outstanding``: the target serving the fewest requests now (per unit of weight),
    #: for replicas of one model on several engines; ``auto``: the cheapest target whose quality
    #: on the request's task cannot be told from the best's (:mod:`weighbridge.routing.auto`).
    strategy: Literal["ordered", "weighted", "least-outstanding", "auto"] = "ordered"
    #: ``local-only``: a flagged request only goes to targets whose data stays on this machine;
    #: ``redact``: flagged spans are replaced before a closed target sees them, then restored.
    privacy: Literal["none", "local-only", "redact"] = "none"
    fallback_on: list[FailureClass] = Field(default_factory=lambda: list(ALL_FAILURES))
    #: A hard cap on what the gateway spends through this route, in USD, over every key.
    budget_usd: float | None = Field(default=None, ge=0)
    auto: Auto = Field(default_factory=Auto)

    @model_validator(mode="after")
    def _default_is_a_target(self) -> Route:
        default = self.auto.default
        if default is not None and default not in [t.model for t in self.targets]:
            raise ValueError(f"auto.default '{default}' is not one of the route's targets")
        return self

    def falls_back_on(self, error: WeighbridgeError) -> bool:
        kind = failure_class(error)
        return kind is not None and kind in self.fallback_on


def failure_class(error: WeighbridgeError) -> FailureClass | None:
    """The class of a failure that another target might not have; None for the caller's own
    mistakes, which every target would refuse alike."""
    if isinstance(error, (MissingKeyError, ModelLoadError, NoRouteError)):
        return "unavailable"
    if not isinstance(error, ProviderError):
        return None
    if error.status == 429:
        return "rate_limited"
    if error.status in (503, 529):
        return "overloaded"
    if error.status is not None and error.status >= 500:
        return "server_error"
    if error.status in (401, 403, 404):
        return "unavailable"  # our credentials or model id at that provider: not the caller's doing
    if error.status is None:
        return "timeout" if isinstance(error, ProviderTimeoutError) else "connect"
    return None
