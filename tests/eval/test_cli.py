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


def write_mmlu(folder: Path, subjects: dict[str, list[tuple[str, list[str], int]]] = SUBJECTS) -> Path:
    """The layout `datasets` users have when they export a split: <dir>/all/<split>.jsonl."""
    (folder / "all").mkdir(parents=True)
    test = [
        {"question": q, "subject": subject, "choices": c, "answer": a}
        for subject, items in subjects.items()
        for q, c, a in items
    ]
    dev = [
        {"question": "What is 2 + 2?", "subject": s, "choices": ["3", "4", "5", "6"], "answer": 1}
        for s in subjects
    ]
    for split, rows in (("test", test), ("dev", dev)):
        (folder / "all" / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


@pytest.mark.long(8)
def test_mmlu_on_the_embedded_model_by_loglikelihood(tmp_path: Path) -> None:
    data = write_mmlu(tmp_path / "mmlu")
    done = invoke("eval", "-m", "smollm2-135m", "-t", "mmlu", "--data", str(data), "--shots", "1", "--json")
    assert done.returncode == 0, done.stderr
    [result] = json.loads(done.stdout)["results"]
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
    hits = [item["values"]["acc"] for item in result["items"]]
    assert overall["all"]["score"] == sum(hits) / len(hits)  # (a 135M model mostly answers "C")
    assert all(len(item["record"]["loglikelihoods"]) == 4 for item in result["items"])

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
    [result] = json.loads(done.stdout)["results"]
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


def test_an_unknown_task_and_a_model_that_writes_no_text_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOGETHER_API_KEY", "not-used")  # refused before any call
    data = write_mmlu(tmp_path / "mmlu")
    unknown = invoke("eval", "-m", "smollm2-135m", "-t", "mmlu-pro", "--data", str(data))
    assert unknown.returncode == 2 and "unknown task 'mmlu-pro'" in unknown.stderr
    image = invoke("eval", "-m", "flux-1-schnell", "-t", "mmlu", "--data", str(data))
    assert image.returncode == 2 and image.stderr == (
        "error: flux-1-schnell is an image model: eval tasks score text\n"
    )


def test_a_model_that_never_answers_stops_at_its_first_failures(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[providers.down]\ntype = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
        'data_leaves_machine = false\n[models.down-model]\nserve = [{provider = "down", model = "m"}]\n'
    )
    data = write_mmlu(tmp_path / "mmlu")
    done = invoke(
        "--config", str(config), "eval", "-m", "down-model", "-t", "mmlu", "--data", str(data), "-q"
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: down-model on mmlu: the first 3 items failed: ")


def test_the_library_call_is_the_command(tmp_path: Path) -> None:
    import weighbridge

    run = weighbridge.evaluate("smollm2-135m", "arc_easy", data_dir=write_arc(tmp_path / "arc"), limit=3)
    [result] = run.results
    assert (run.status, result.task, result.method, len(result.outcomes)) == (
        "complete",
        "arc_easy",
        "loglikelihood",
        3,
    )
    overall = result.scores("acc")[""]
    assert overall.n == 3 and overall.mean == sum(o.values["acc"] for o in result.outcomes) / 3
