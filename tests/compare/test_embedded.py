"""Compare on the real embedded model (llama.cpp, SmolLM2-135M): the shipped examples end to
end through the CLI in this process, and one real judge run. Kept to a few short answers."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli import invoke
from tests.support.compare import prompt_file, run
from tests.support.paths import EXAMPLES
from weighbridge.client import Client
from weighbridge.compare.judge import parse_score
from weighbridge.config import load_settings


def test_the_sentiment_example_runs_on_the_embedded_model(tmp_path: Path) -> None:
    html, data = tmp_path / "report.html", tmp_path / "run.json"
    result = invoke(
        "compare", str(EXAMPLES / "sentiment.yaml"), "--limit", "3", "--html", str(html), "--json", str(data)
    )
    assert result.returncode == 0, result.stderr
    assert "smollm2-135m" in result.stdout and "score (95% CI)" in result.stdout
    assert "Best score: smollm2-135m" in result.stdout
    run_data = json.loads(data.read_text())
    cells = run_data["cells"]
    assert len(cells) == 3 and all(c["output"] and c["error"] is None for c in cells)
    assert all(len(c["weight_sha256"]) == 64 and c["cost_usd"] > 0 and c["ttft_s"] is not None for c in cells)
    assert all(c["completion_tokens"] <= 12 for c in cells)  # the file's max_tokens
    [summary] = run_data["summary"]
    assert summary["cost_per_1k"] > 0 and 0 <= summary["score"] <= 1
    assert "smollm2-135m" in html.read_text()


def test_the_closed_example_skips_the_model_without_a_key_and_runs_the_local_one() -> None:
    result = invoke("compare", str(EXAMPLES / "local-vs-closed.yaml"), "--limit", "2", "-q")
    assert result.returncode == 0, result.stderr
    assert "skipping gpt-4o-mini: set OPENAI_API_KEY" in result.stderr
    assert "smollm2-135m" in result.stdout and "gpt-4o-mini" in result.stdout  # named as skipped


def test_a_real_judge_run_on_the_embedded_model(home: Path, tmp_path: Path) -> None:
    rubric = "The answer names Paris as the capital of France."
    rows = [
        {
            "id": "fr",
            "prompt": "What is the capital of France?",
            "assert": [{"type": "judge", "value": rubric, "model": "smollm2-135m", "max_tokens": 48}],
        }
    ]
    with Client(load_settings()) as client:
        results = run(client, prompt_file(tmp_path, rows), models=["smollm2-135m"], params={"max_tokens": 24})
    [cell] = results.cells
    assert "Paris" in (cell.output or "")
    [record] = cell.judgements
    assert rubric in record["messages"][-1]["content"] and cell.output in record["messages"][-1]["content"]
    assert record["verdict"]  # the raw verdict is kept, whatever it says
    [score] = cell.scores
    readable = parse_score(record["verdict"])
    if readable is None:
        assert score["score"] is None and score["error"]  # unreadable: an error, never a zero
    else:
        assert score["score"] == readable and 0 <= readable <= 1
