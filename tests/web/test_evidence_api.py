"""``GET /arena/evidence`` through the gateway in this process, on a store holding a compare run,
an arena vote and a model's change of weights: its rows are the evidence table's, as
``weighbridge evidence --json`` prints them, and only the operator may read them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.compare import Script, Upstream
from tests.support.gateway import gateway_app, settings_for
from tests.support.votes import answers, vote
from tests.support.web import MASTER, compare_run, config
from tests.web.test_browse import get, new_key
from weighbridge.client import Client
from weighbridge.compare.results import load
from weighbridge.evidence import as_json, table
from weighbridge.evidence.figures import none_yet, shown


def evidence_in_store(home: Path, cloud: Upstream, script: Script, tmp_path: Path) -> None:
    """Evidence on two tasks, some of it stale: the compare run of tests/support/web.py (task
    ``set``: cloud-a right twice, cloud-b wrong twice), a vote on task ``general`` for cloud-a's
    answer over cloud-b's, then one whole answer from cloud-a, which the upstream gives as
    ``judge-1`` where it streamed as ``snap-2024-07-18``: new weights, so cloud-a's evidence is stale."""
    run = compare_run(home, cloud, script, tmp_path, retention="none")
    with Client(settings_for(home)) as client:
        vote(client.store, answers(load(client.store, run), "fr"), "a", task="general")
        client.chat("Capital of France?", model="cloud-a")


def rows(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """The answer's rows without what the page adds to ``--json``'s (``shown``)."""
    return [{k: v for k, v in row.items() if k != "shown"} for row in answer["rows"]]


def test_the_evidence_is_the_tables_rows_for_the_operator_alone(
    home: Path, cloud: Upstream, script: Script, tmp_path: Path
) -> None:
    evidence_in_store(home, cloud, script, tmp_path)
    store = settings_for(home).open_store()
    try:
        every = table(store)
    finally:
        store.close()
    current = [row for row in every if row.current]
    assert current and len(current) < len(every)  # there is a stale row to leave out
    with gateway_app(home, master_key=MASTER, config=config(cloud.url)) as http:
        master = {"Authorization": "Bearer " + MASTER}
        answer = get(http, "/arena/evidence", master)
        assert rows(answer) == [as_json(row) for row in current]
        assert [row["shown"] for row in answer["rows"]] == [shown(row) for row in current]
        assert answer["tasks"] == ["general", "set"]
        assert rows(get(http, "/arena/evidence", master, all="1")) == [as_json(row) for row in every]
        only = get(http, "/arena/evidence", master, task="set", all="1")
        assert rows(only) == [as_json(row) for row in every if row.task == "set"]
        assert only["tasks"] == ["general", "set"]  # every task, for the filter

        unknown = get(http, "/arena/evidence", master, task="poetry")
        assert unknown == {"rows": [], "tasks": ["general", "set"], "empty": none_yet("poetry")}
        bad = http.get("/arena/evidence", params={"all": "yes"}, headers=master)
        assert bad.status_code == 400
        assert bad.json()["error"] == {
            "message": "'all' must be 0 or 1",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_request",
        }

        refused = http.get("/arena/evidence", headers=new_key("team"))
        assert refused.status_code == 403
        error = refused.json()["error"]
        assert error["type"] == "permission_error" and "master key" in error["message"]
        assert http.get("/arena/evidence").status_code == 401
