"""``weighbridge eval`` as a user runs it: a small MMLU-shaped dataset in a folder of JSON lines,
the embedded model, scores with their interval and method; and the one-line refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import invoke

SUBJECTS = {
    "geography": [
        ("What is the capital of France?", ["Berlin", "Paris", "Madrid", "Rome"], 1),
        ("What is the capital of Japan?", ["Tokyo", "Seoul", "Beijing", "Bangkok"], 0),
        ("What is the capital of Italy?", ["Milan", "Rome", "Naples", "Turin"], 1),
    ],
    "astronomy": [
        ("Which planet is closest to the Sun?", ["Venus", "Mars", "Mercury", "Earth"], 2),
        ("What is the largest planet?", ["Jupiter", "Saturn", "Neptune", "Earth"], 0),
    ],
}


def write_mmlu(folder: Path) -> Path:
    """The layout `datasets` users have when they export a split: <dir>/all/<split>.jsonl."""
    (folder / "all").mkdir(parents=True)
    test = [
        {"question": q, "subject": subject, "choices": c, "answer": a}
        for subject, items in SUBJECTS.items()
        for q, c, a in items
    ]
    dev = [
        {"question": "What is 2 + 2?", "subject": s, "choices": ["3", "4", "5", "6"], "answer": 1}
        for s in SUBJECTS
    ]
    for split, rows in (("test", test), ("dev", dev)):
        (folder / "all" / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


@pytest.mark.long(8)
def test_mmlu_on_the_embedded_model_by_loglikelihood(tmp_path: Path) -> None:
    data = write_mmlu(tmp_path / "mmlu")
    done = invoke("eval", "-m", "smollm2-135m", "-t", "mmlu", "--data", str(data), "--shots", "1", "--json")
    assert done.returncode == 0, done.stderr
    [result] = json.loads(done.stdout)
    assert (result["model"], result["task"], result["method"], result["shots"]) == (
        "smollm2-135m",
        "mmlu",
        "loglikelihood",
        1,
    )
    overall = {s["group"]: s for s in result["scores"]}
    assert overall["all"]["n"] == 5 and {overall["geography"]["n"], overall["astronomy"]["n"]} == {3, 2}
    low, high = overall["all"]["interval"]
    assert 0 <= low <= overall["all"]["score"] <= high <= 1
    hits = [item["chosen_acc"] == item["target"] for item in result["items"]]
    assert overall["all"]["score"] == sum(hits) / len(hits)  # (a 135M model mostly answers "C")
    assert all(len(item["loglikelihoods"]) == 4 for item in result["items"])

    table = invoke(
        "eval", "-m", "smollm2-135m", "-t", "mmlu", "--data", str(data), "--limit", "2", "--by-group", "-q"
    )
    assert table.returncode == 0, table.stderr
    assert "loglikelihood" in table.stdout and "geography" in table.stdout


def write_arc(folder: Path) -> Path:
    """ARC-Easy's test split as JSON lines, under the config's name."""
    (folder / "ARC-Easy").mkdir(parents=True)
    rows = [
        {
            "id": f"q{n}",
            "question": q,
            "choices": {"text": c, "label": ["A", "B", "C", "D"]},
            "answerKey": "ABCD"[a],
        }
        for n, (q, c, a) in enumerate(item for items in SUBJECTS.values() for item in items)
    ]
    (folder / "ARC-Easy" / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_arc_scores_the_choices_themselves(tmp_path: Path) -> None:
    data = write_arc(tmp_path / "arc")
    done = invoke("eval", "-m", "smollm2-135m", "-t", "arc_easy", "--data", str(data), "--json", "-q")
    assert done.returncode == 0, done.stderr
    [result] = json.loads(done.stdout)
    scores = {s["metric"]: s["score"] for s in result["scores"]}
    assert scores["acc"] >= 0.6 and "acc_norm" in scores  # capitals and planets, said in full


def test_a_missing_dataset_is_one_line_and_nothing_is_fetched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    done = invoke("eval", "-m", "smollm2-135m", "-t", "arc_easy", "--data", str(tmp_path / "nothing"))
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert "allenai/ai2_arc" in line and "test" in line and str(tmp_path / "nothing") in line
    assert not (tmp_path / "hf").exists()


def test_unknown_task_and_a_model_without_logprobs_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-used")  # refused before any call
    data = write_mmlu(tmp_path / "mmlu")
    unknown = invoke("eval", "-m", "smollm2-135m", "-t", "mmlu-pro", "--data", str(data))
    assert unknown.returncode == 2 and "unknown task 'mmlu-pro'" in unknown.stderr
    closed = invoke("eval", "-m", "claude-sonnet-4-5", "-t", "mmlu", "--data", str(data))
    assert (
        closed.returncode == 2 and "log-probabilities" in closed.stderr and "Traceback" not in closed.stderr
    )


def test_the_library_call_is_the_command(tmp_path: Path) -> None:
    import weighbridge

    [result] = weighbridge.evaluate("smollm2-135m", "arc_easy", data_dir=write_arc(tmp_path / "arc"), limit=3)
    assert (result.task, result.method, len(result.answered)) == ("arc_easy", "loglikelihood", 3)
    overall = result.scores("acc")[""]
    assert overall.n == 3 and overall.mean == sum(a.correct("acc") for a in result.answered) / 3
