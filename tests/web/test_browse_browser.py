"""The Runs, Log and Spend tabs in a real headless Chromium against the gateway on a loopback
port, served from this process (a local caller, no master key), a loopback upstream, and the CLI
in this process on the same store: a compare run's report opens in the page, a hostile prompt
and answer in the log stay inert text, texts not kept say so, and the spend tables print the
figures ``weighbridge spend --json`` gives. Screenshots go to test-artifacts/web/; skipped,
saying so, on a machine without Chromium."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path

import httpx

from tests.support.browser import Page, chromium_tab, needs_chromium  # noqa: F401 (the browser fixture)
from tests.support.cli import invoke
from tests.support.compare import Script, Upstream
from tests.support.gateway import serving
from tests.support.web import HOSTILE, compare_run, config
from weighbridge.money.amounts import format_usd

pytestmark = needs_chromium


def cells(page: Page, rows: str) -> list[list[str]]:
    """The text of each cell of the table rows ``rows`` selects."""
    found: list[list[str]] = page.js(
        f"[...document.querySelectorAll({json.dumps(rows)})].map(r => [...r.cells].map(c => c.textContent))"
    )
    return found


def framed_report(page: Page, url: str) -> str:
    """The HTML of the page's iframe showing ``url``, once loaded. A sandboxed frame runs in a
    process of its own, so it is read through its own DevTools session."""
    deadline = time.monotonic() + 30
    while True:
        framed = [t for t in page.send("Target.getTargets")["targetInfos"] if t["type"] == "iframe"]
        if framed and framed[0]["url"].endswith(url):
            attached = page.send("Target.attachToTarget", targetId=framed[0]["targetId"], flatten=True)
            session = attached["sessionId"]
            root = page.send("DOM.getDocument", session=session)["root"]
            html: str = page.send("DOM.getOuterHTML", session=session, nodeId=root["nodeId"])["outerHTML"]
            if "</body>" in html:
                return html
            page.send("Target.detachFromTarget", sessionId=session)
        assert time.monotonic() < deadline, "the report did not load in the page"
        time.sleep(0.1)


#: Visible form controls with no label (a <label for>, a wrapping label or an aria-label).
UNLABELLED = (
    "[...document.querySelectorAll('input, select, textarea')]"
    ".filter(e => e.offsetParent !== null && !e.labels.length && !e.getAttribute('aria-label'))"
    ".map(e => e.id || e.outerHTML)"
)
#: Visible things that act on a click but are not native controls the Tab key stops at.
UNREACHABLE = (
    "[...document.querySelectorAll('[onclick], [role=button], [tabindex]')]"
    ".filter(e => e.offsetParent !== null && (e.tabIndex < 0 || !/^(BUTTON|A|INPUT|SELECT|TEXTAREA)$/.test(e.tagName)))"
    ".map(e => e.id || e.outerHTML)"
)


def test_runs_log_and_spend_in_the_page(browser: Page, home: Path, tmp_path: Path) -> None:
    script = Script()
    with Upstream(script) as cloud:
        run_id = compare_run(home, cloud, script, tmp_path, retention="none")
        script.answers["cloud-b"]["Say"] = HOSTILE
        assert invoke("keys", "create", "--name", "team", "--budget-usd", "5").returncode == 0
        with serving(home, config=config(cloud.url)) as base:
            asked = {"model": "cloud-b", "messages": [{"role": "user", "content": HOSTILE}], "max_tokens": 8}
            assert httpx.post(base + "/v1/chat/completions", json=asked, timeout=30).status_code == 200
            browser.go(base + "/")
            check_runs(browser, run_id)
            check_log(browser)
            check_spend(browser)

            browser.send(
                "Emulation.setDeviceMetricsOverride", width=375, height=800, deviceScaleFactor=1, mobile=True
            )
            for tab in ("spend", "log", "runs", "play", "arena", "board"):
                browser.click(f"#tab-{tab}")
                assert browser.js("document.documentElement.scrollWidth") <= 375  # no sideways scroll
                assert browser.js(UNLABELLED) == [], tab  # every control says what it is
                assert browser.js(UNREACHABLE) == [], tab  # and the keyboard reaches it
            browser.click("#tab-spend")
            browser.shot("browse-4-spend-375px")


def check_runs(browser: Page, run_id: str) -> None:
    """The run is listed, and its report opens in the page."""
    browser.click("#tab-runs")
    browser.wait("document.querySelectorAll('#runs-table tbody tr').length === 1")
    [row] = cells(browser, "#runs-table tbody tr")
    assert row[0] == run_id and row[2] == "complete" and row[4] == "cloud-a, cloud-b"
    assert row[5:8] == ["2", "4", "0"]  # prompts, answers, errors
    browser.click("#runs-table tbody button")
    browser.wait("!document.getElementById('report').hidden")
    link = browser.js("document.getElementById('report-open').getAttribute('href')")
    assert link == f"/arena/runs/{run_id}/report"
    report = framed_report(browser, link)
    assert run_id in report and "Berlin" in report and "<svg" in report
    browser.shot("browse-1-run-report")


def check_log(browser: Page) -> None:
    """Newest first; a hostile prompt and answer are text; the compare run's were not kept."""
    browser.click("#tab-log")
    browser.wait("document.querySelectorAll('#log-table tr.record').length === 5")
    newest = cells(browser, "#log-table tr.record")[0]
    assert newest[2] == "cloud-b" and newest[4] == "local" and newest[9] == "ok" and newest[7].startswith("$")
    browser.click("#log-table tr.record button")
    browser.wait("document.querySelector('#log-table tr.detail') !== null")
    texts = browser.js("[...document.querySelectorAll('#log-table tr.detail pre')].map(p => p.textContent)")
    assert texts == [HOSTILE, HOSTILE]  # the prompt and the answer, as they were
    assert browser.js("document.querySelectorAll('#log-table img, #log-table script').length") == 0
    assert browser.js("window.pwned === undefined")
    browser.js("[...document.querySelectorAll('#log-table tr.record button')].at(-1).click(); true")
    browser.wait("document.querySelectorAll('#log-table tr.detail').length === 2")
    assert "not kept (log retention: none)" in browser.js("document.getElementById('log-table').textContent")
    browser.shot("browse-2-log")
    browser.fill("log-model", "cloud-a")
    browser.js("document.getElementById('log-model').dispatchEvent(new Event('change')); true")
    browser.wait("document.querySelectorAll('#log-table tr.record').length === 2")


def check_spend(browser: Page) -> None:
    """Each table says what `weighbridge spend --json` says; each chart has its bars."""
    browser.click("#tab-spend")
    browser.wait("document.querySelectorAll('#spend-groups .spend-group').length === 4")
    for by in ("model", "key", "route", "day"):
        cli = json.loads(invoke("spend", "--by", by, "--json").stdout)
        expected = [[g["group"], format_usd(Decimal(g["cost_usd"]))] for g in [*cli["groups"], cli["total"]]]
        shown = cells(browser, f"#spend-by-{by} tbody tr, #spend-by-{by} tfoot tr")
        assert [[r[0], r[-1]] for r in shown] == expected
        bars = browser.js(f"document.querySelectorAll('#spend-by-{by} svg rect').length")
        assert bars >= len(cli["groups"])
    assert cells(browser, "#budgets-table tbody tr") == [
        ["key", "team", "$5.00", "$0", "$0", "$5.00", "$0", "never"],
        ["route", "cheap", "$3.00", "$0", "$0", "$3.00", "$0", "never"],
    ]
    browser.shot("browse-3-spend")
