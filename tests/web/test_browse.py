"""The page's Browse routes through the gateway and the CLI, both in this process, on one store:
compare runs and their report, the log paged and filtered with its texts as retention left them,
spend equal to ``weighbridge spend --json``, budgets, and what a virtual key may and may not see."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.testclient import TestClient

from tests.support.cli import invoke
from tests.support.compare import Script, Upstream
from tests.support.gateway import gateway_app
from tests.support.web import HOSTILE, MASTER, compare_run, config
from weighbridge.money.amounts import format_usd

if TYPE_CHECKING:
    from httpx2 import Response  # what the TestClient answers with


def new_key(name: str, budget: float | None = None) -> dict[str, str]:
    args = ["keys", "create", "--name", name] + (["--budget-usd", str(budget)] if budget else [])
    made = invoke(*args)
    assert made.returncode == 0, made.stderr
    return {"Authorization": "Bearer " + made.stdout.strip()}


def ask(http: TestClient, model: str, prompt: str, headers: dict[str, str]) -> Response:
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": 8}
    return http.post("/v1/chat/completions", json=body, headers=headers)


def get(http: TestClient, path: str, headers: dict[str, str], **params: Any) -> Any:
    response = http.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_runs_and_their_report_are_the_operators(
    home: Path, cloud: Upstream, script: Script, tmp_path: Path
) -> None:
    run_id = compare_run(home, cloud, script, tmp_path, retention="hash")
    with gateway_app(home, master_key=MASTER, config=config(cloud.url)) as http:
        assert '<script src="/static/browse.js" defer>' in http.get("/").text
        script_text = http.get("/static/browse.js").text
        assert "http" not in script_text.replace('"http://www.w3.org/2000/svg"', "")  # no other host
        master = {"Authorization": "Bearer " + MASTER}
        [run] = get(http, "/arena/runs", master)["runs"]
        assert run["id"] == run_id and run["status"] == "complete" and run["file"] == "set.jsonl"
        assert run["models"] == ["cloud-a", "cloud-b"]
        assert (run["prompts"], run["answers"], run["errors"]) == (2, 4, 0)

        report = http.get(run["report"], headers=master)
        assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
        policy = report.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "sandbox" in policy and "script-src" not in policy
        assert report.headers["x-content-type-options"] == "nosniff"
        assert report.headers["cache-control"] == "no-store"
        assert run_id in report.text and "Berlin" in report.text and "Lyon" in report.text
        missing = http.get("/arena/runs/no-such-run/report", headers=master)
        assert missing.status_code == 404 and "weighbridge runs" in missing.json()["error"]["message"]

        # The compare run logged its calls under retention "hash": digests only, never the text.
        records = get(http, "/arena/log", master)["records"]
        assert len(records) == 4 and {r["source"] for r in records} == {"compare"}
        assert all(r["retention"] == "hash" and r["request"].startswith("sha256:") for r in records)
        assert not any("France" in json.dumps(r) or "Paris" in json.dumps(r) for r in records)

        key = new_key("team")
        for path in ("/arena/runs", run["report"]):
            refused = http.get(path, headers=key)
            assert refused.status_code == 403 and "master key" in refused.json()["error"]["message"]
            assert http.get(path).status_code == 401


def test_each_caller_sees_its_own_log_spend_and_budget(home: Path, cloud: Upstream, script: Script) -> None:
    script.answers["cloud-a"] = {"Say": "<b>bold</b> reply", "colour": "red", "refuse": (400, "no", 0.0)}
    script.answers["cloud-b"] = {"colour": "blue"}
    with gateway_app(home, master_key=MASTER, config=config(cloud.url)) as http:
        master = {"Authorization": "Bearer " + MASTER}
        alice, bob = new_key("alice", budget=1.0), new_key("bob", budget=2.0)
        assert ask(http, "cloud-a", HOSTILE, alice).status_code == 200
        assert ask(http, "cloud-a", "refuse", alice).status_code == 400  # logged as an error
        assert ask(http, "cheap", "Name a colour.", bob).status_code == 200
        assert ask(http, "cloud-a", "Name a colour.", master).status_code == 200

        everything = get(http, "/arena/log", master)
        newest_first = [r["key_name"] for r in everything["records"]]
        assert newest_first == ["master", "bob", "alice", "alice"]
        assert everything["facets"] == {"models": ["cloud-a", "cloud-b"], "routes": ["cheap"]}
        mine = get(http, "/arena/log", alice)
        assert {r["key_name"] for r in mine["records"]} == {"alice"} and len(mine["records"]) == 2
        assert mine["facets"] == {"models": ["cloud-a"], "routes": []}
        hostile = mine["records"][1]
        assert hostile["retention"] == "full"
        assert json.loads(hostile["request"])["messages"] == [{"role": "user", "content": HOSTILE}]
        assert hostile["response"] == "<b>bold</b> reply" and hostile["shown"]["cost_usd"].startswith("$")
        assert get(http, "/arena/log", alice, status="error")["records"][0]["error"]
        assert get(http, "/arena/log", bob, model="cloud-a")["records"] == []  # a filter never widens a view
        [routed] = get(http, "/arena/log", master, route="cheap")["records"]
        assert routed["model"] == "cloud-b" and routed["route_reason"]

        pages, cursor = [], None
        while True:
            page = get(http, "/arena/log", master, limit=3, **({"before": cursor} if cursor else {}))
            pages.append([r["id"] for r in page["records"]])
            assert (page["facets"] is None) == (cursor is not None)  # facets come with the first page
            if not (cursor := page["next"]):
                break
        assert pages == [[r["id"] for r in everything["records"]][:3], [everything["records"][3]["id"]]]
        assert http.get("/arena/log", params={"limit": "0"}, headers=master).status_code == 400

        for by in ("model", "key", "route", "day"):
            printed = invoke("spend", "--by", by, "--json")
            assert printed.returncode == 0, printed.stderr
            cli = json.loads(printed.stdout)
            page = get(http, "/arena/spend", master, by=by)
            for line in [*page["groups"], page["total"]]:
                assert line.pop("shown") == {"cost_usd": format_usd(Decimal(line["cost_usd"]))}
            assert (page["groups"], page["total"]) == (cli["groups"], cli["total"])
        own = get(http, "/arena/spend", alice, by="key")
        assert [g["group"] for g in own["groups"]] == ["alice"] and own["total"]["requests"] == 2
        assert get(http, "/arena/spend", alice, by="model", since="2999-01-01")["total"]["requests"] == 0
        assert http.get("/arena/spend", params={"by": "colour"}, headers=master).status_code == 400

        budgets = {(b["kind"], b["name"]): b for b in get(http, "/arena/budgets", master)["budgets"]}
        listed = {(b["kind"], b["name"]): b for b in cli["budgets"]}
        assert budgets.keys() == listed.keys() == {("key", "alice"), ("key", "bob"), ("route", "cheap")}
        for name, budget in budgets.items():
            for field in ("budget_usd", "spent_usd", "reserved_usd"):
                assert budget[field] == listed[name][field]
                assert budget["shown"][field] == format_usd(Decimal(listed[name][field]))
        assert budgets["key", "bob"]["runs_out"] == listed["key", "bob"]["runs_out"] != "exhausted"
        own_budgets = get(http, "/arena/budgets", alice)["budgets"]  # not bob's, nor a route's
        assert [(b["kind"], b["name"]) for b in own_budgets] == [("key", "alice")]
