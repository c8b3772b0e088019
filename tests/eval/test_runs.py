"""An evaluation is a stored run: listed by ``runs``, shown again by ``show`` (table, JSON, CSV,
HTML) without asking anything, resumed after ``kill -9`` with nothing asked twice, and read
beside the catalog's published figure."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time
from contextlib import closing
from pathlib import Path

import pytest

from tests.eval.test_cli import write_mmlu
from tests.support.cli import WEIGHBRIDGE, invoke
from weighbridge.config import load_settings
from weighbridge.eval.published import published
from weighbridge.eval.scores import Score
from weighbridge.store import Store, runs


def write_hellaswag(folder: Path) -> Path:
    """HellaSwag's validation split as the hub's rows, in a folder of its own."""
    folder.mkdir(parents=True)
    rows = [
        {
            "ind": n,
            "activity_label": "Cooking",
            "ctx_a": f"A man puts {food} in a pan.",
            "ctx_b": "he",
            "endings": ["fries it.", "flies away.", "sings a song.", "paints the pan."],
            "label": 0,
        }
        for n, food in enumerate(["an egg", "some bacon", "a steak"])
    ]
    (folder / "validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


@pytest.mark.long(10)
def test_a_stored_evaluation_is_listed_and_shown_again_without_asking(tmp_path: Path) -> None:
    data = write_hellaswag(tmp_path / "hellaswag")
    done = invoke("eval", "-m", "smollm2-135m", "-t", "hellaswag", "--data", str(data), "-q")
    assert done.returncode == 0, done.stderr
    # The catalog's published figure for the model stands beside the measured one, with its source.
    assert "HellaSwag 40.9%" in done.stdout and "huggingface.co/HuggingFaceTB" in done.stdout
    assert "measured" in done.stdout and (
        "outside the measured interval" in done.stdout or "within it" in done.stdout
    )

    [listed] = [json.loads(line) for line in invoke("runs", "--json").stdout.splitlines()]
    assert (listed["status"], listed["prompts"], listed["answers"], listed["description"]) == (
        "complete",
        3,
        3,
        "eval: hellaswag",
    )
    with closing(load_settings().open_store()) as store, store.connection() as db:
        before = db.execute("SELECT count(*) FROM inferences").fetchone()[0]

    out = {kind: tmp_path / f"run.{kind}" for kind in ("json", "csv", "html")}
    shown = invoke(
        "show",
        listed["id"][:6],
        "--json",
        str(out["json"]),
        "--csv",
        str(out["csv"]),
        "--html",
        str(out["html"]),
    )
    assert shown.returncode == 0, shown.stderr
    assert "hellaswag" in shown.stdout and "acc_norm" in shown.stdout and "loglikelihood" in shown.stdout
    saved = json.loads(out["json"].read_text())
    [result] = saved["results"]
    overall = {s["metric"]: s for s in result["scores"] if s["group"] == "all"}
    [figure] = overall["acc"]["published"]
    low, high = overall["acc"]["interval"]
    assert figure["score"] == pytest.approx(0.409) and figure["disagrees"] == (not low <= 0.409 <= high)
    rows = list(csv.DictReader(out["csv"].read_text().splitlines()))
    assert len(rows) == 6 and {r["metric"] for r in rows} == {"acc", "acc_norm"}
    page = out["html"].read_text()
    assert "<script" not in page and "HellaSwag 40.9%" in page and "loglikelihoods" in page
    with closing(load_settings().open_store()) as store, store.connection() as db:
        assert db.execute("SELECT count(*) FROM inferences").fetchone()[0] == before  # nothing asked


def test_a_published_figure_is_compared_with_the_measured_interval() -> None:
    [figure] = published(load_settings(), "smollm2-135m", "hellaswag")
    assert figure.fraction == pytest.approx(0.409)
    assert not figure.disagrees(Score(mean=0.40, stderr=0.02, n=500))
    assert figure.disagrees(Score(mean=0.30, stderr=0.02, n=500))
    assert published(load_settings(), "smollm2-135m", "gsm8k") == []


@pytest.mark.long(15)
def test_kill_9_then_the_same_command_asks_nothing_twice(tmp_path: Path) -> None:
    questions = [
        (f"What is {a} + {a}?", [str(a), str(2 * a), str(3 * a), str(4 * a)], 1) for a in range(1, 41)
    ]
    data = write_mmlu(tmp_path / "mmlu", {"arithmetic": questions})
    command = ["eval", "-m", "smollm2-135m", "-t", "mmlu", "--data", str(data), "--concurrency", "1", "-q"]
    log = (tmp_path / "stderr").open("w")
    proc = subprocess.Popen([WEIGHBRIDGE, *command], stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 60
    answered: set[str] = set()
    with closing(load_settings().open_store()) as store:
        while len(answered) < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
            answered = _answered(store)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        log.close()
        answered = _answered(store)  # what it kept, to the last write before the kill
        assert 3 <= len(answered) < 40, (tmp_path / "stderr").read_text()

        again = invoke(*command, "--json")
        assert again.returncode == 0, again.stderr
        with store.connection() as db:
            [killed, resumed] = sorted(runs.recent_runs(db, 5), key=lambda r: r[0].created_at)
            assert killed[0].status == "interrupted" and resumed[0].status == "complete"
            cells = runs.cells(db, resumed[0].id)
    copied = {c.prompt_id for c in cells if c.cached}
    asked = {c.prompt_id for c in cells if not c.cached}
    assert copied == answered and len(asked) == 40 - len(answered)  # each item asked exactly once
    [weights] = {c.weight_sha256 for c in cells}  # what answered, as compare keeps it
    assert weights is not None and len(weights) == 64
    [result] = json.loads(again.stdout)["results"]
    assert {s["n"] for s in result["scores"] if s["group"] == "all"} == {40}


def _answered(store: Store) -> set[str]:
    """The items the newest run stored an answer for."""
    with store.connection() as db:
        rows = db.execute(
            "SELECT prompt_id FROM compare_cells WHERE run_id = (SELECT id FROM compare_runs "
            "ORDER BY created_at DESC LIMIT 1) AND output IS NOT NULL"
        ).fetchall()
    return {row[0] for row in rows}
