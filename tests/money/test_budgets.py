"""Budgets: burn rate over the last 7 days (or since the key was made) and the run-out date,
on hand-made figures and on a real store with real keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from weighbridge.money.budgets import budget_status, budgets
from weighbridge.store import InferenceRecord, Store
from weighbridge.store import keys as store_keys

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_an_old_key_burns_over_the_last_seven_days() -> None:
    # $10 budget, $4 spent, $3.50 of it in the last 7 days: $0.50/day, $6 left, 12 days.
    status = budget_status("key", "team-a", 10.0, 4.0, 0.0, NOW - timedelta(days=30), Decimal("3.5"), NOW)
    assert status.window_days == 7
    assert status.burn_usd_per_day == Decimal("0.5")
    assert status.remaining_usd == Decimal(6)
    assert status.runs_out == NOW + timedelta(days=12)
    assert status.runs_out_text() == "2026-12-07"


def test_a_young_key_burns_since_it_was_made() -> None:
    # Made 2 days ago, $1 spent since: $0.50/day; $0.25 reserved in flight comes off what is left.
    status = budget_status("key", "team-b", 5.0, 1.0, 0.25, NOW - timedelta(days=2), Decimal(1), NOW)
    assert status.window_days == 2
    assert status.burn_usd_per_day == Decimal("0.5")
    assert status.remaining_usd == Decimal("3.75")
    assert status.runs_out == NOW + timedelta(days=7.5)


def test_no_spend_never_runs_out_and_a_spent_budget_is_exhausted() -> None:
    idle = budget_status("key", "idle", 5.0, 0.0, 0.0, NOW - timedelta(days=9), Decimal(0), NOW)
    assert (idle.runs_out, idle.runs_out_text()) == (None, "never")
    spent = budget_status("key", "spent", 5.0, 5.0, 0.0, NOW - timedelta(days=9), Decimal(2), NOW)
    assert spent.exhausted and spent.runs_out_text() == "exhausted"


def test_a_key_made_a_minute_ago_is_rated_over_an_hour() -> None:
    status = budget_status("key", "new", 100.0, 0.5, 0.0, NOW - timedelta(minutes=1), Decimal("0.5"), NOW)
    assert status.burn_usd_per_day == Decimal(12)  # $0.50 an hour, not $0.50 a minute


def test_budgets_read_keys_and_the_log(tmp_path: Path) -> None:
    store = Store(tmp_path / "keys.db")
    try:
        with store.connection() as db:
            store_keys.create(db, "team-a", budget_usd=10.0)
            store_keys.create(db, "no-budget")
            store_keys.create(db, "gone", budget_usd=1.0)
            store_keys.revoke(db, "gone")
            made = (NOW - timedelta(days=20)).isoformat()
            db.execute("UPDATE api_keys SET created_at = ? WHERE name = 'team-a'", (made,))
        for n, (days_ago, cost) in enumerate([(10, 0.5), (6, 1.25), (1, 2.25), (0.5, None)]):
            at = (NOW - timedelta(days=days_ago)).isoformat()
            store.record(
                InferenceRecord(
                    id=f"wb-{n}",
                    created_at=at,
                    source="gateway",
                    model="gpt-5",
                    provider="openai",
                    status="ok" if cost is not None else "error",
                    retention="none",
                    cost_usd=cost,
                    key_name="team-a",
                )
            )
        [status] = budgets(store, now=NOW)
    finally:
        store.close()
    assert status.name == "team-a"
    assert status.spent_usd == Decimal(4)
    assert status.window_spend_usd == Decimal("3.5")  # the $0.50 of 10 days ago is outside
    assert status.burn_usd_per_day == Decimal("0.5")
    assert status.runs_out_text() == "2026-12-07"
