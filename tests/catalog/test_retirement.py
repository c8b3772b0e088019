"""Retirement warnings: a model within 90 days of its announced shutdown, or past it, is named
with the date and its source, by the function, by ``weighbridge models`` and by
``weighbridge routes``; dates are relative to today, so the test never ages."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from tests.support.cli import invoke
from weighbridge.catalog.retirement import retirement_warning
from weighbridge.config import load_settings

TODAY = date.today()
GONE, SOON, LATER = TODAY - timedelta(days=10), TODAY + timedelta(days=42), TODAY + timedelta(days=91)
SOURCE = "https://example.com/deprecations"


def _config(home: Path, routes: str = "") -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f"""
[models.gone-model]
provider = "openai"
model = "gone-1"
deprecated = "{GONE}"
deprecation_source = "{SOURCE}"

[models.soon-model]
provider = "openai"
model = "soon-1"
deprecated = {SOON}          # a TOML date, unquoted, is read as the same day

[models.later-model]
provider = "openai"
model = "later-1"
deprecated = "{LATER}"
{routes}"""
    )


def test_the_warning_says_when_and_where_from_within_90_days_or_past(home: Path) -> None:
    _config(home)
    catalog = load_settings().catalog
    assert (
        retirement_warning(catalog, "gone-model", TODAY)
        == f"gone-model retired on {GONE} (10 days ago; {SOURCE})"
    )
    assert retirement_warning(catalog, "soon-model", TODAY) == f"soon-model retires {SOON} (in 42 days)"
    assert retirement_warning(catalog, "later-model", TODAY) is None  # 91 days: not yet
    assert retirement_warning(catalog, "later-model", LATER - timedelta(days=90)) is not None
    assert retirement_warning(catalog, "soon-model", SOON) == f"soon-model retires today ({SOON})"
    assert retirement_warning(catalog, "smollm2-135m", TODAY) is None  # open weights never retire
    assert retirement_warning(catalog, "ollama/qwen3:8b", TODAY) is None  # no catalog entry, no date


def test_a_date_that_is_no_date_fails_as_the_config_loads(home: Path) -> None:
    home.mkdir(parents=True)
    (home / "config.toml").write_text('[models.x]\nprovider = "openai"\nmodel = "x"\ndeprecated = "soon"\n')
    done = invoke("models")
    assert done.returncode == 2 and "'soon' is not a date (YYYY-MM-DD)" in done.stderr


def test_models_warns_on_stderr_and_keeps_stdout_one_line_per_model(home: Path) -> None:
    _config(home)
    listed = invoke("models")
    assert listed.returncode == 0, listed.stderr
    assert f"warning: gone-model retired on {GONE} (10 days ago; {SOURCE})" in listed.stderr
    assert f"warning: soon-model retires {SOON} (in 42 days)" in listed.stderr
    assert "later-model" not in listed.stderr and "later-model" in listed.stdout
    assert "weighbridge revalidate OLD --with NEW" in listed.stderr
    rows = {row["id"]: row for row in json.loads(invoke("models", "--json").stdout)}
    assert rows["soon-model"]["retirement_warning"] == f"soon-model retires {SOON} (in 42 days)"
    assert rows["soon-model"]["deprecated"] == SOON.isoformat()
    assert rows["later-model"]["retirement_warning"] is None


def test_routes_lists_each_route_and_warns_for_its_retiring_targets(home: Path) -> None:
    _config(
        home,
        """
[routes.main]
strategy = "weighted"
targets = [{ model = "gone-model", weight = 2 }, { model = "later-model" }, { model = "smollm2-135m" }]

[routes.private]
privacy = "local-only"
budget_usd = 5
targets = [{ model = "soon-model", max_output_price = 3 }, { model = "smollm2-135m" }]
""",
    )
    listed = invoke("routes")
    assert listed.returncode == 0, listed.stderr
    lines = {line.split()[0]: line.split() for line in listed.stdout.splitlines()[1:]}
    assert lines["main"][1:3] == ["weighted", "none"]
    assert " ".join(lines["main"][4:]) == "gone-model (weight 2), later-model, smollm2-135m"
    assert lines["private"][1:4] == ["ordered", "local-only", "$5"]
    assert " ".join(lines["private"][4:]) == "soon-model (at most $3/M out), smollm2-135m"
    warnings = [line for line in listed.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [
        f"warning: route main: gone-model retired on {GONE} (10 days ago; {SOURCE})",
        f"warning: route private: soon-model retires {SOON} (in 42 days)",
    ]
    [main, private] = json.loads(invoke("routes", "--json").stdout)
    assert main["route"] == "main" and main["targets"][0] == {
        "model": "gone-model",
        "weight": 2.0,
        "max_output_price": None,
    }
    assert private["retirement_warnings"] == [f"soon-model retires {SOON} (in 42 days)"]


def test_routes_without_any_says_where_to_declare_one(home: Path) -> None:
    done = invoke("routes")
    assert (
        done.returncode == 0
        and done.stdout == f"no routes: declare one as [routes.NAME] in {home / 'config.toml'}\n"
    )
