"""An evaluation of the embedded model as evidence: its items' headline metric, its interval as
``weighbridge eval`` gives it, keyed by the sha256 of the weight file that answered."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.eval.test_cli import write_mmlu
from tests.support.cli import invoke
from weighbridge.config import load_settings
from weighbridge.eval.scores import mean_score
from weighbridge.evidence import table
from weighbridge.store import runs


@pytest.mark.long(6)
def test_an_eval_run_is_evidence_for_its_task_and_weights(tmp_path: Path) -> None:
    data = write_mmlu(tmp_path / "mmlu")
    done = invoke(
        "eval", "-m", "smollm2-135m", "-t", "mmlu", "--data", str(data), "--limit", "3", "--json", "-q"
    )
    assert done.returncode == 0, done.stderr
    [result] = json.loads(done.stdout)["results"]
    hits = {f"mmlu/{item['id']}": item["values"]["acc"] for item in result["items"]}

    store = load_settings().open_store()
    try:
        [row] = table(store)
        with store.connection() as db:
            [run] = runs.all_runs(db)
            shas = {cell.weight_sha256 for cell in runs.cells(db, run.id)}
    finally:
        store.close()
    [sha] = shas
    assert (row.task, row.model, row.weights, row.current) == ("mmlu", "smollm2-135m", f"sha256:{sha}", True)
    assert row.quality is not None and row.quality.source == "eval"
    assert dict(row.quality.items) == hits and row.quality.n == 3
    expected = mean_score(sorted(hits.values()))
    assert row.quality.mean == pytest.approx(expected.mean)
    assert (row.quality.low, row.quality.high) == pytest.approx(expected.interval)
    overall = next(s for s in result["scores"] if s["metric"] == "acc" and s["group"] == "all")
    assert row.quality.mean == pytest.approx(overall["score"])  # what `weighbridge eval` printed
    assert row.arena is None
