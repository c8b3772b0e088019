"""Spend totals over a known set of logged requests, against hand-computed figures, to the cent.

The records go through the real store (hash chain and all). Their costs are the figures
weighbridge.costs gives for them (checked below), written as the decimals a person computes:
a closed model at its catalog price per token, a local one at its wall time times the
self-hosting rate ($0.08925/h).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from weighbridge.catalog import Catalog, shipped_catalog_data
from weighbridge.costs import cost_usd
from weighbridge.money.amounts import format_usd, to_cents
from weighbridge.money.spend import input_share, spend
from weighbridge.money.window import Window
from weighbridge.server.metrics import Metrics
from weighbridge.store import InferenceRecord, Store
from weighbridge.types import Usage


def _record(
    n: int, at: str, model: str, provider: str, status: str, cost: float | None, **rest: Any
) -> InferenceRecord:
    return InferenceRecord(
        id=f"wb-{n}",
        created_at=at,
        source=str(rest.pop("source", "gateway")),
        model=model,
        provider=provider,
        status=status,
        retention="none",
        cost_usd=cost,
        **rest,
    )


KNOWN = [
    # gpt-5 at $1.25/$10 per M: 1000 in, 200 out = 0.00125 + 0.002
    _record(
        1,
        "2026-11-01T09:00:00+00:00",
        "gpt-5",
        "openai",
        "ok",
        0.00325,
        prompt_tokens=1000,
        completion_tokens=200,
        key_name="team-a",
    ),
    # streamed; 20k in, 5k out = 0.025 + 0.05; the last microsecond of 1 November
    _record(
        2,
        "2026-11-01T23:59:59.999999+00:00",
        "gpt-5",
        "openai",
        "ok",
        0.075,
        prompt_tokens=20000,
        completion_tokens=5000,
        key_name="team-a",
        route="smart",
        ttft_ms=310.0,
    ),
    # claude-sonnet-4-5 at $3/$15 per M, a stream cut short: 3000 in, 100 out = 0.009 + 0.0015
    _record(
        3,
        "2026-11-02T00:00:00+00:00",
        "claude-sonnet-4-5",
        "anthropic",
        "incomplete",
        0.0105,
        prompt_tokens=3000,
        completion_tokens=100,
        key_name="team-b",
        route="smart",
        ttft_ms=450.0,
    ),
    # failed: no tokens, no cost
    _record(
        4,
        "2026-11-02T10:00:00+00:00",
        "claude-sonnet-4-5",
        "anthropic",
        "error",
        None,
        key_name="team-b",
        route="smart",
        error="anthropic returned 529: overloaded",
    ),
    # local, not streamed: 3.6 s at $0.08925/h
    _record(
        5,
        "2026-11-02T12:00:00+00:00",
        "smollm2-135m",
        "llamacpp",
        "ok",
        0.00008925,
        prompt_tokens=27,
        completion_tokens=7,
        latency_ms=3600.0,
        source="cli",
    ),
    # local, streamed: 7.2 s
    _record(
        6,
        "2026-11-02T12:05:00+00:00",
        "smollm2-135m",
        "llamacpp",
        "ok",
        0.0001785,
        prompt_tokens=400,
        completion_tokens=128,
        latency_ms=7200.0,
        ttft_ms=900.0,
        source="cli",
    ),
    # a model the catalog has no price for: answered, unpriced
    _record(
        7,
        "2026-11-03T08:00:00+00:00",
        "qwen3-8b",
        "ollama",
        "ok",
        None,
        prompt_tokens=50,
        completion_tokens=60,
        key_name="team-a",
    ),
    # gpt-5-pro at $15/$120 per M: 100k in, 40k out = 1.5 + 4.8
    _record(
        8,
        "2026-11-03T09:30:00+00:00",
        "gpt-5-pro",
        "openai",
        "ok",
        6.3,
        prompt_tokens=100000,
        completion_tokens=40000,
        key_name="team-b",
    ),
]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    made = Store(tmp_path / "spend.db")
    for record in KNOWN:
        made.record(record)
    yield made
    made.close()


def test_the_logged_costs_are_what_weighbridge_costs_charges() -> None:
    catalog = Catalog.model_validate(shipped_catalog_data())
    closed = {
        1: ("gpt-5", 1000, 200),
        2: ("gpt-5", 20000, 5000),
        3: ("claude-sonnet-4-5", 3000, 100),
        8: ("gpt-5-pro", 100000, 40000),
    }
    for n, (model, prompt, completion) in closed.items():
        charged, _ = cost_usd(
            catalog.models[model],
            Usage(prompt_tokens=prompt, completion_tokens=completion),
            busy_s=1,
            runs_locally=False,
            self_hosting=None,
        )
        assert charged == pytest.approx(KNOWN[n - 1].cost_usd, rel=1e-12)
    for n, seconds in ((5, 3.6), (6, 7.2)):
        charged, _ = cost_usd(
            catalog.models["smollm2-135m"],
            Usage(),
            busy_s=seconds,
            runs_locally=True,
            self_hosting=catalog.self_hosting,
        )
        assert charged == pytest.approx(KNOWN[n - 1].cost_usd, rel=1e-12)


def test_totals_by_model_to_the_cent(store: Store) -> None:
    report = spend(store, "model")
    lines = {line.group: line for line in report.lines}
    assert lines["gpt-5"].cost_usd == Decimal("0.07825")
    assert lines["claude-sonnet-4-5"].cost_usd == Decimal("0.0105")
    assert (lines["claude-sonnet-4-5"].incomplete, lines["claude-sonnet-4-5"].errors) == (1, 1)
    assert lines["smollm2-135m"].cost_usd == Decimal("0.00026775")  # an open model is never $0
    assert (lines["qwen3-8b"].cost_usd, lines["qwen3-8b"].unpriced) == (Decimal(0), 1)
    assert report.total.cost_usd == Decimal("6.38901775")
    assert to_cents(report.total.cost_usd) == Decimal("6.39")
    assert report.total.requests == 8 and report.total.errors == 1 and report.total.unpriced == 1
    assert (report.total.prompt_tokens, report.total.completion_tokens) == (124477, 45495)
    assert report.lines[0].group == "gpt-5-pro"  # dearest first


def test_totals_by_key_route_and_provider(store: Store) -> None:
    by_key = {line.group: line.cost_usd for line in spend(store, "key").lines}
    assert by_key == {"team-a": Decimal("0.07825"), "team-b": Decimal("6.3105"), "-": Decimal("0.00026775")}
    by_route = {line.group: line.cost_usd for line in spend(store, "route").lines}
    assert by_route == {"smart": Decimal("0.0855"), "-": Decimal("6.30351775")}
    by_provider = {line.group: line.cost_usd for line in spend(store, "provider").lines}
    assert by_provider["openai"] == Decimal("6.37825")


def test_days_are_utc_days_and_the_window_is_inclusive(store: Store) -> None:
    by_day = spend(store, "day")
    assert [(line.group, line.cost_usd, line.requests) for line in by_day.lines] == [
        ("2026-11-01", Decimal("0.07825"), 2),  # 23:59:59.999999 is still the 1st
        ("2026-11-02", Decimal("0.01076775"), 4),  # 00:00:00 is the 2nd
        ("2026-11-03", Decimal("6.3"), 2),
    ]
    one_day = spend(store, "model", Window(since=_day("2026-11-02"), until=_day("2026-11-02")))
    assert one_day.total.requests == 4 and one_day.total.cost_usd == Decimal("0.01076775")
    assert spend(store, "model", Window(until=_day("2026-11-01"))).total.cost_usd == Decimal("0.07825")


def test_exact_sums_do_not_drift_as_floats_do(tmp_path: Path) -> None:
    store = Store(tmp_path / "drift.db")
    try:
        for n, cost in enumerate([0.1, 0.2] * 5):
            store.record(_record(n, f"2026-11-01T10:00:{n:02d}+00:00", "gpt-5", "openai", "ok", cost))
        assert sum([0.1, 0.2] * 5) != 1.5
        assert spend(store).total.cost_usd == Decimal("1.5")
    finally:
        store.close()


def test_the_same_figures_as_the_metrics_counter(store: Store) -> None:
    metrics = Metrics()
    for record in store.export():
        metrics.observe(record, None)
    counted: dict[str, float] = {}
    for sample in metrics.cost.collect()[0].samples:
        if sample.name.endswith("_total"):
            counted[sample.labels["model"]] = counted.get(sample.labels["model"], 0.0) + sample.value
    for line in spend(store, "model").lines:
        assert to_cents(line.cost_usd) == to_cents(Decimal(repr(counted[line.group])))


def test_input_share_is_the_mix_of_the_log_without_measurement_runs(store: Store) -> None:
    assert input_share(store) == pytest.approx(124477 / (124477 + 45495))
    assert input_share(store, exclude_source="gateway") == pytest.approx(427 / (427 + 135))


def test_display_rounds_half_to_even_and_never_shows_a_local_cost_as_zero() -> None:
    assert format_usd(Decimal("0.125")) == "$0.12"
    assert format_usd(Decimal("0.135")) == "$0.14"
    assert format_usd(Decimal("1234.565")) == "$1,234.56"
    assert format_usd(Decimal("0.00026775")) == "$0.00027"
    assert format_usd(Decimal(0)) == "$0"


def _day(text: str) -> date:
    return date.fromisoformat(text)
