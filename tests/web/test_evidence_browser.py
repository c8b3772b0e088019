"""The Evidence tab in a real headless Chromium against the gateway on a loopback port, served
from this process (a local caller, no master key), with the CLI in this process on the same
store: the tab says how evidence is made while there is none, then shows, cell for cell, the
figures ``weighbridge evidence --json`` gives, stale rows on request, one task at a time.
Screenshots go to test-artifacts/web/; skipped, saying so, on a machine without Chromium."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.browser import Page, chromium_tab, needs_chromium  # noqa: F401 (the browser fixture)
from tests.support.cli import invoke
from tests.support.compare import Script, Upstream
from tests.support.gateway import serving
from tests.support.web import config
from tests.web.test_browse_browser import UNLABELLED, UNREACHABLE, cells
from tests.web.test_evidence_api import evidence_in_store
from weighbridge.money.amounts import format_cost, seconds

pytestmark = needs_chromium

ROWS = "#evidence-table tbody tr"


def printed(*args: str) -> list[list[str]]:
    """The rows ``weighbridge evidence --json ARGS`` prints, each as the cells of its table."""
    done = invoke("evidence", "--json", *args)
    assert done.returncode == 0, done.stderr
    return [expected_cells(row) for row in json.loads(done.stdout)]


def expected_cells(row: dict[str, Any]) -> list[str]:
    q, a, s = row["quality"], row["arena"], row["speed"] or {}
    weights = row["weights"] or "unknown"
    return [
        row["task"],
        row["model"],
        (weights[: len("sha256:") + 12] if weights.startswith("sha256:") else weights)
        + ("" if row["stale"] is None else f" (stale: {row['stale']})"),
        "no evidence yet" if q is None else f"{q['mean']:.2f} [{q['low']:.2f}, {q['high']:.2f}]",
        "-" if q is None else str(q["n"]),
        "-" if q is None else q["source"],
        "-" if a is None else f"{a['rating']:.0f} [{a['low']:.0f}, {a['high']:.0f}] {a['win_rate']:.0%} won",
        "-" if a is None else str(a["votes"]),
        seconds(s.get("latency_p50_s")),
        format_cost(s.get("cost_per_call_usd")),
    ]


def shows(browser: Page, expected: list[list[str]]) -> None:
    browser.wait(f"document.querySelectorAll({json.dumps(ROWS)}).length === {len(expected)}")
    assert cells(browser, ROWS) == expected


def test_the_evidence_tab_shows_what_the_command_prints(
    browser: Page, home: Path, cloud: Upstream, script: Script, tmp_path: Path
) -> None:
    with serving(home, config=config(cloud.url)) as base:
        browser.go(base + "/")
        browser.click("#tab-evidence")
        none_yet = invoke("evidence").stdout.strip()
        assert none_yet.startswith("no evidence yet")
        browser.wait(f"document.getElementById('evidence-summary').textContent === {json.dumps(none_yet)}")

        evidence_in_store(home, cloud, script, tmp_path)
        browser.click("#evidence-filter button")
        shows(browser, printed())
        assert browser.js("[...document.querySelectorAll('#evidence-task option')].map(o => o.value)") == [
            "",
            "general",
            "set",
        ]
        browser.shot("evidence-1-current")

        browser.click("#evidence-stale")  # a click on the box: checked, and a change event
        shows(browser, printed("--all"))
        assert any("(stale: " in row[2] for row in cells(browser, ROWS))
        browser.fill("evidence-task", "set")
        browser.js("document.getElementById('evidence-task').dispatchEvent(new Event('change')); true")
        shows(browser, printed("--all", "--task", "set"))
        browser.shot("evidence-2-task-with-stale")

        browser.send(
            "Emulation.setDeviceMetricsOverride", width=375, height=800, deviceScaleFactor=1, mobile=True
        )
        assert browser.js("document.documentElement.scrollWidth") <= 375  # the table scrolls, not the page
        assert browser.js(UNLABELLED) == [] and browser.js(UNREACHABLE) == []
        browser.shot("evidence-3-375px")
