"""Prometheus metrics for ``GET /metrics``, fed by the client's record observers, so the
figures are the log's figures: every request that is logged is counted, and nothing else."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from weighbridge.errors import ProviderError, WeighbridgeError
from weighbridge.routing.breaker import Breakers
from weighbridge.store import InferenceRecord

_LABELS = ("model", "route", "key")
_BREAKER_VALUES = {"closed": 0, "half-open": 1, "open": 2}
#: Seconds: local models answer in tens of milliseconds, closed reasoning models in minutes.
_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
#: One label set's children: requests (with status), tokens in, tokens out, cost, latency.
_Series = tuple[Counter, Counter, Counter, Counter, Histogram]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "weighbridge_requests", "Inferences by outcome.", (*_LABELS, "status"), registry=self.registry
        )
        self.tokens = Counter(
            "weighbridge_tokens", "Tokens in and out.", (*_LABELS, "direction"), registry=self.registry
        )
        self.cost = Counter("weighbridge_cost_usd", "Spend in USD.", _LABELS, registry=self.registry)
        self.latency = Histogram(
            "weighbridge_request_latency_seconds",
            "Time from dispatch to the last token.",
            _LABELS,
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.upstream_errors = Counter(
            "weighbridge_upstream_errors",
            "Failures reported by upstream providers, by HTTP status ('none': no response).",
            ("provider", "status"),
            registry=self.registry,
        )
        self.breaker = Gauge(
            "weighbridge_breaker_state",
            "Circuit state per target: 0 closed, 1 half-open, 2 open.",
            ("target",),
            registry=self.registry,
        )
        self._series: dict[tuple[str, str, str, str], _Series] = {}

    def observe(self, record: InferenceRecord, error: WeighbridgeError | None) -> None:
        labels = (record.model, record.route or "", record.key_name or "", record.status)
        series = self._series.get(labels)
        if series is None:
            series = self._series[labels] = self._new_series(labels)
        requests, tokens_in, tokens_out, cost, latency = series
        requests.inc()
        tokens_in.inc(record.prompt_tokens or 0)
        tokens_out.inc(record.completion_tokens or 0)
        cost.inc(record.cost_usd or 0.0)
        if record.latency_ms is not None:
            latency.observe(record.latency_ms / 1000)
        if isinstance(error, ProviderError):
            self.upstream_errors.labels(record.provider, str(error.status or "none")).inc()

    def _new_series(self, labels: tuple[str, str, str, str]) -> _Series:
        """The children a record with these labels updates. Looked up once per distinct
        (model, route, key, status) and kept: ``labels()`` takes a lock and builds its key
        anew on every call, five times per request otherwise."""
        model_route_key = labels[:3]
        return (
            self.requests.labels(*labels),
            self.tokens.labels(*model_route_key, "in"),
            self.tokens.labels(*model_route_key, "out"),
            self.cost.labels(*model_route_key),
            self.latency.labels(*model_route_key),
        )

    def render(self, breakers: Breakers) -> bytes:
        """The exposition, with the circuit states as they are now."""
        for target, state in breakers.states().items():
            self.breaker.labels(target).set(_BREAKER_VALUES[state])
        return generate_latest(self.registry)
