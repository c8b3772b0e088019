"""``weighbridge spend`` and ``weighbridge crossover`` through the CLI in this process (the
same parsing, output and exit codes as the console script): a real store under
WEIGHBRIDGE_HOME, files written where asked."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.cli import invoke
from tests.support.gateway import settings_for
from weighbridge.store import InferenceRecord
from weighbridge.store import keys as store_keys


def _log(home: Path) -> None:
    store = settings_for(home).open_store()
    now = datetime.now(UTC)
    try:
        with store.connection() as db:
            store_keys.create(db, "team-a", budget_usd=20.0)
            made = (now - timedelta(days=2)).isoformat()
            db.execute("UPDATE api_keys SET created_at = ? WHERE name = 'team-a'", (made,))
        for n, (model, provider, status, cost, prompt, completion) in enumerate(
            [
                ("gpt-5", "openai", "ok", 0.1, 1000, 100),
                ("gpt-5", "openai", "ok", 0.2, 3000, 300),
                ("smollm2-135m", "llamacpp", "incomplete", 0.0001785, 400, 50),
                ("gpt-5", "openai", "error", None, None, None),
            ]
        ):
            store.record(
                InferenceRecord(
                    id=f"wb-{n}",
                    created_at=(now - timedelta(hours=n + 1)).isoformat(),
                    source="gateway",
                    model=model,
                    provider=provider,
                    status=status,
                    retention="none",
                    cost_usd=cost,
                    prompt_tokens=prompt,
                    completion_tokens=completion,
                    key_name="team-a" if provider == "openai" else None,
                )
            )
    finally:
        store.close()


def test_spend_as_json_csv_and_a_table(home: Path) -> None:
    _log(home)
    done = invoke("spend", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["total"]["cost_usd"] == "0.3001785"  # exact: 0.1 + 0.2 is 0.3 here
    assert (report["total"]["requests"], report["total"]["errors"], report["total"]["incomplete"]) == (
        4,
        1,
        1,
    )
    [budget] = report["budgets"]
    # The key's own counter is the gateway's float sum: 0.1 + 0.2 there, exact to far below a cent.
    assert (budget["name"], budget["spent_usd"], budget["remaining_usd"]) == (
        "team-a",
        "0.30000000000000004",
        "19.69999999999999996",
    )
    assert float(budget["burn_usd_per_day"]) == pytest.approx(0.15, rel=1e-3)  # $0.30 over the key's 2 days
    due = datetime.now(UTC) + timedelta(days=19.7 / 0.15)
    assert budget["runs_out"] in {(due + timedelta(hours=h)).date().isoformat() for h in (-1, 0)}

    done = invoke("spend", "--by", "key", "--csv")
    rows = list(csv.reader(io.StringIO(done.stdout)))
    assert rows[0][0] == "key" and rows[0][-1] == "cost_usd"
    assert {row[0]: row[-1] for row in rows[1:]} == {"team-a": "0.3", "-": "0.0001785", "total": "0.3001785"}

    done = invoke("spend", "--by", "day")
    assert done.returncode == 0
    assert "$0.30" in done.stdout and "Budgets" in done.stdout and "team-a" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("spend", "--since", "2026-13-01"), "--since must be a date as YYYY-MM-DD"),
        (("spend", "--since", "2026-11-05", "--until", "2026-11-01"), "is after --until"),
        (
            (
                "crossover",
                "--local",
                "smollm2-135m",
                "--api",
                "gpt-5",
                "--usd-per-hour",
                "-1",
                "--tokens-per-s",
                "100",
            ),
            "cannot be negative",
        ),
        (
            ("crossover", "--local", "smollm2-135m", "--api", "gpt-5", "--tokens-per-s", "0"),
            "--tokens-per-s must be above 0",
        ),
        (
            ("crossover", "--local", "smollm2-135m", "--api", "gpt-6", "--tokens-per-s", "100"),
            "unknown model 'gpt-6'",
        ),
        (
            ("crossover", "--local", "smollm2-135m", "--api", "qwen3-8b", "--tokens-per-s", "100"),
            "qwen3-8b has no price",
        ),
        (("crossover", "--local", "gpt-5", "--api", "gpt-5-mini", "--tokens-per-s", "100"), "closed weights"),
        (
            (
                "crossover",
                "--local",
                "smollm2-135m",
                "--api",
                "gpt-5",
                "--preset",
                "nope",
                "--tokens-per-s",
                "100",
            ),
            "no hardware preset 'nope'",
        ),
        (
            (
                "crossover",
                "--local",
                "smollm2-135m",
                "--api",
                "gpt-5",
                "--utilisation",
                "2",
                "--tokens-per-s",
                "100",
            ),
            "utilisation",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    done = invoke(*args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("error: ") and message in done.stderr
    assert done.stderr.count("\n") == 1


def test_crossover_json_png_and_html(tmp_path: Path) -> None:
    png, page = tmp_path / "chart.png", tmp_path / "report.html"
    done = invoke(
        "crossover", "--local", "smollm2-135m", "--api", "gpt-5", "--api", "gpt-4o-mini",
        "--tokens-per-s", "100", "--prefill-tokens-per-s", "100", "--usd-per-hour", "1",
        "--utilisation", "1", "--input-share", "0.5", "--json", "--png", str(png), "--html", str(page),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["machine"]["tokens_per_month_capacity"] == pytest.approx(262.8e6)
    gpt5 = result["apis"][0]
    assert gpt5["usd_per_mtok"] == pytest.approx(5.625)
    assert gpt5["crossover_tokens_per_month"] == pytest.approx(730 / 5.625e-6)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = page.read_text("utf-8")
    assert "<svg" in html and "gpt-4o-mini" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*https?:""", html, re.IGNORECASE)
    assert "<script" not in html.lower() and "<link" not in html.lower()


def test_crossover_table_says_how_many_machines_each_volume_needs() -> None:
    done = invoke(
        "crossover", "--local", "smollm2-135m", "--api", "gpt-4o-mini", "--tokens-per-s", "100",
        "--prefill-tokens-per-s", "100", "--usd-per-hour", "0.1", "--input-share", "0.5",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "machines" in done.stdout and "263M tokens/month per machine" in done.stdout
    assert re.search(r"\b1B\s+4\b", done.stdout)  # 1B tokens a month: 4 machines of 262.8M each


def test_presets_are_listed_with_their_terms() -> None:
    done = invoke("crossover", "--presets")
    assert done.returncode == 0, done.stderr
    assert "aws-g5-xlarge" in done.stdout and "1.006" in done.stdout and "on-demand" in done.stdout


def test_utilisation_comes_from_the_config(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text("[self_hosting]\nusd_per_hour = 1.0\nutilisation = 0.5\n")
    done = invoke(
        "crossover",
        "--local",
        "smollm2-135m",
        "--api",
        "gpt-5",
        "--tokens-per-s",
        "100",
        "--prefill-tokens-per-s",
        "100",
        "--input-share",
        "0.5",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["inputs"]["utilisation"] == 0.5 and result["inputs"]["usd_per_hour"] == 1.0
    assert result["machine"]["usd_per_mtok_when_full"] == pytest.approx(
        2 * 730 / 262.8
    )  # twice the full-time price
    (home / "config.toml").write_text("[self_hosting]\nutilisation = 0\n")
    done = invoke("spend")
    assert done.returncode == 2 and "utilisation" in done.stderr and done.stderr.startswith("error: ")
