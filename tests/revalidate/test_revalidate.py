"""``weighbridge revalidate`` on two local models with different weights (the embedded Q4_1
SmolLM2 and a Q4_0 quantization of it) over one small compare run and one small evaluation, its
verdicts checked against the stored answers; then on two scripted cloud models whose answers
make the verdict, the interval and the cost change exact by hand, with a run's own judge and a
pairwise run skipped; then on two tiny image pipelines, a run scored by a user's function and
CLIP drawn again with its seeds and sizes, and a run with no scores saying so. The old model is
never asked anything."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compare.test_image_compare import CHECKS, brightness, tiny_clip_model
from tests.eval.test_cli import write_mmlu
from tests.support.cli import invoke
from tests.support.compare import CAPITALS, Script, Upstream, config_text, prompt_file
from tests.support.diffusion import tiny_sd_pipeline
from weighbridge.config import load_settings
from weighbridge.own.quantize import quantize_file
from weighbridge.store import runs

OLD, NEW = "smollm2-135m", "smollm2-q4_0"
PROMPTS = [
    {
        "id": "fr",
        "prompt": "What is the capital of France?",
        "assert": [{"type": "icontains", "value": "Paris"}],
    },
    {
        "id": "jp",
        "prompt": "What is the capital of Japan?",
        "assert": [{"type": "icontains", "value": "Tokyo"}],
    },
    {
        "id": "it",
        "prompt": "What is the capital of Italy?",
        "assert": [{"type": "icontains", "value": "Rome"}],
    },
]
QUESTIONS = {
    "geography": [
        ("What is the capital of France?", ["Berlin", "Paris", "Madrid", "Rome"], 1),
        ("What is the capital of Japan?", ["Tokyo", "Seoul", "Beijing", "Bangkok"], 0),
        ("Which planet is closest to the Sun?", ["Venus", "Mars", "Mercury", "Earth"], 2),
    ]
}


def _asked(model: str) -> int:
    """How many calls the log holds for ``model``."""
    done = invoke("logs", "--json", "-n", "10000", "-m", model)
    assert done.returncode == 0, done.stderr
    return len(done.stdout.splitlines())


def _cells(run_id: str) -> list[runs.CellRow]:
    store = load_settings().open_store()
    try:
        with store.connection() as db:
            return runs.cells(db, run_id)
    finally:
        store.close()


def _values(run_id: str) -> dict[str, float]:
    """Each prompt's (or item's) stored score, as the run's cells keep it."""
    return {c.prompt_id: c.scores[0].get("score", c.scores[0].get("value")) for c in _cells(run_id)}


@pytest.mark.long(10)
def test_revalidate_on_two_local_models(home: Path, tmp_path: Path, embedded_path: Path) -> None:
    quantized = tmp_path / "smollm2-q4_0.gguf"
    quantize_file(embedded_path, quantized, "q4_0", requantize=True)
    home.mkdir(parents=True)
    (home / "config.toml").write_text(
        f'[models.{NEW}]\nfile = "{quantized}"\nsystem_prompt = "You are a helpful assistant."\n'
        "defaults = { temperature = 0.0 }\n"
    )
    nothing = invoke("revalidate", OLD, "--with", NEW)
    assert nothing.returncode == 2 and nothing.stderr == (
        f"error: no stored compare run or evaluation used {OLD}: 'weighbridge runs' lists them\n"
    )
    unknown = invoke("revalidate", OLD, "--with", "smollm2-typo")
    assert (
        unknown.returncode == 2 and "smollm2-typo" in unknown.stderr and len(unknown.stderr.splitlines()) == 1
    )

    compared = invoke("compare", str(prompt_file(tmp_path, PROMPTS)), "-m", OLD, "--max-tokens", "12", "-q")
    assert compared.returncode == 0, compared.stderr
    data = write_mmlu(tmp_path / "mmlu", QUESTIONS)
    evaluated = invoke("eval", "-m", OLD, "-t", "mmlu", "--data", str(data), "-q")
    assert evaluated.returncode == 0, evaluated.stderr
    listed = [json.loads(line) for line in invoke("runs", "--json").stdout.splitlines()]
    eval_id, compare_id = (run["id"] for run in listed)  # newest first
    before = {run_id: _cells(run_id) for run_id in (compare_id, eval_id)}
    old_calls = _asked(OLD)
    assert old_calls >= 3  # the compare run's answers, at least: the log does hold its calls

    table = invoke("revalidate", OLD, "--with", NEW)
    assert table.returncode == 0, table.stderr
    assert (
        table.stderr
        == f"re-running evaluation {eval_id} on {NEW}\nre-running compare run {compare_id} on {NEW}\n"
    )
    header, *lines = table.stdout.strip().splitlines()
    assert header.split()[:5] == ["run", "kind", "on", OLD, NEW]
    assert [line.split()[:3] for line in lines] == [
        [eval_id, "eval", "mmlu"],
        [compare_id, "compare", str(tmp_path / "set.jsonl")],
    ]

    again = invoke("revalidate", OLD, "--with", NEW, "--json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert (report["old"], report["new"], report["skipped"]) == (OLD, NEW, [])
    eval_row, compare_row = report["rows"]
    assert (eval_row["kind"], eval_row["what"]) == ("eval", "mmlu acc (loglikelihood)")
    assert (compare_row["kind"], compare_row["what"]) == ("compare", str(tmp_path / "set.jsonl"))
    for line, row in zip(lines, (eval_row, compare_row), strict=True):
        assert row["verdict"] in line.split()  # the same numbers: every answer came from the store

    # the old model was asked nothing, and its runs are as they were
    assert _asked(OLD) == old_calls
    assert {run_id: _cells(run_id) for run_id in (compare_id, eval_id)} == before
    # the re-runs are stored runs of the new model alone; the second revalidation asked nothing
    listed = {run["id"]: run for run in map(json.loads, invoke("runs", "--json").stdout.splitlines())}
    for row in (eval_row, compare_row):
        assert listed[row["new"]["run_id"]]["models"] == [NEW]
        assert all(c.model == NEW and c.cached for c in _cells(row["new"]["run_id"]))

    # the verdict by hand, from the stored answers: new minus old, prompt by prompt
    items = {"mmlu/geography/0", "mmlu/geography/1", "mmlu/geography/2"}
    for row, asked in ((compare_row, {"fr", "jp", "it"}), (eval_row, items)):
        old_values, new_values = _values(row["old"]["run_id"]), _values(row["new"]["run_id"])
        assert set(old_values) == set(new_values) == asked
        diffs = [new_values[p] - old_values[p] for p in old_values]
        difference = row["difference"]
        assert difference["prompts"] == 3 and difference["model"] == NEW
        assert difference["difference"] == pytest.approx(sum(diffs) / 3)
        low, high = difference["interval"]["low"], difference["interval"]["high"]
        assert min(diffs) <= low <= high <= max(diffs)
        expected = "indistinguishable" if low <= 0 <= high else ("better" if sum(diffs) > 0 else "worse")
        assert row["verdict"] == expected
        assert row["old"]["score"] == pytest.approx(sum(old_values.values()) / 3)
        assert row["new"]["score"] == pytest.approx(sum(new_values.values()) / 3)
    # local answers are priced at the machine's hourly rate; an evaluation keeps no cost per item
    assert compare_row["old"]["cost_per_1k"] > 0 and compare_row["new"]["cost_per_1k"] > 0
    assert compare_row["cost_change_per_1k"] == pytest.approx(
        compare_row["new"]["cost_per_1k"] - compare_row["old"]["cost_per_1k"]
    )
    assert eval_row["cost_change_per_1k"] is None


@pytest.fixture
def cloud(home: Path, script: Script) -> Iterator[Upstream]:
    """Two priced cloud models and a judge on a scripted loopback upstream: cloud-a names the
    capitals, cloud-b (cheaper) names the wrong cities, the judge gives the right one 10."""
    script.answers["cloud-a"] = {"France": "Paris", "Germany": "Berlin", "Italy": "Rome", "Spain": "Madrid"}
    script.answers["cloud-b"] = {"France": "Lyon", "Germany": "Bonn", "Italy": "Milan", "Spain": "Seville"}
    script.answers["judge"] = {
        "ANSWER:\nParis": "Right. SCORE: 10",
        "ANSWER:\nBerlin": "Right. SCORE: 10",
        "ANSWER:": "SCORE: 0",
    }
    with Upstream(script) as server:
        home.mkdir(parents=True, exist_ok=True)
        (home / "config.toml").write_text(config_text(server.url))
        yield server


def test_a_worse_cheaper_replacement_with_the_runs_own_judge(cloud: Upstream, tmp_path: Path) -> None:
    pairwise = [{**case, "assert": [{"type": "pairwise", "model": "judge"}]} for case in CAPITALS[:2]]
    judged = [{**case, "assert": [{"type": "judge", "value": "Names the capital."}]} for case in CAPITALS[:2]]
    for args in (
        [str(prompt_file(tmp_path, pairwise, "pairwise.jsonl")), "-m", "cloud-a", "-m", "cloud-b"],
        [str(prompt_file(tmp_path, CAPITALS, "capitals.jsonl")), "-m", "cloud-a"],
        [str(prompt_file(tmp_path, judged, "judged.jsonl")), "-m", "cloud-a", "--judge", "judge"],
    ):
        done = invoke("compare", *args, "-q")
        assert done.returncode == 0, done.stderr
    pairwise_id, capitals_id, judged_id = reversed(
        [json.loads(line)["id"] for line in invoke("runs", "--json").stdout.splitlines()]
    )
    asked_a = len(cloud.asked("cloud-a"))

    locked = invoke("revalidate", "cloud-a", "--with", "locked")
    assert (
        locked.returncode == 2 and locked.stderr == "error: locked cannot run here: set WB_TEST_LOCKED_KEY\n"
    )
    newest = json.loads(
        invoke("revalidate", "cloud-a", "--with", "cloud-b", "--limit-runs", "1", "--json").stdout
    )
    assert [row["old"]["run_id"] for row in newest["rows"]] == [judged_id]

    done = invoke("revalidate", "cloud-a", "--with", "cloud-b", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    judged_row, capitals_row = report["rows"]
    assert [row["old"]["run_id"] for row in report["rows"]] == [judged_id, capitals_id]
    [skipped] = report["skipped"]
    assert skipped["run_id"] == pairwise_id and "pairwise checks" in skipped["why"]

    # every prompt: 1 for cloud-a, 0 for cloud-b, so the paired interval is the one difference
    assert (capitals_row["old"]["score"], capitals_row["new"]["score"]) == (1.0, 0.0)
    assert capitals_row["difference"] == {
        "model": "cloud-b",
        "difference": -1.0,
        "interval": {"low": -1.0, "high": -1.0},
        "prompts": 4,
    }
    assert capitals_row["verdict"] == judged_row["verdict"] == "worse"
    # 20 tokens in and 5 out per answer: $0.15/$0.60 per M is $6 per M answers, $0.05/$0.20 is $2
    assert capitals_row["old"]["cost_per_1k"] == pytest.approx(0.006)
    assert capitals_row["new"]["cost_per_1k"] == pytest.approx(0.002)
    assert capitals_row["cost_change_per_1k"] == pytest.approx(-0.004)

    # the judged run is judged again by its own judge, not the default model; cloud-a asked nothing
    assert (judged_row["old"]["score"], judged_row["new"]["score"]) == (1.0, 0.0)
    assert any("ANSWER:\nLyon" in text for text in cloud.asked("judge"))
    assert len(cloud.asked("cloud-a")) == asked_a


@pytest.fixture(scope="module")
def narrow_sd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The replacement: a tiny pipeline with other weights than tiny_sd's, so other pictures."""
    return tiny_sd_pipeline(tmp_path_factory.mktemp("narrow") / "narrow-sd", channels=(16, 32))


def _drawn(home: Path, run_id: str) -> dict[str, tuple[int, str, bytes]]:
    """Each prompt's seed, size and picture in the run, the picture read from disk."""
    drawn = {}
    for cell in _cells(run_id):
        made = json.loads(cell.output or "{}")
        (picture,) = made["pictures"]
        data = (home / "images" / f"{picture['sha256']}.png").read_bytes()
        drawn[cell.prompt_id] = (made["seed"], made["size"], data)
    return drawn


def test_an_image_run_is_drawn_again_on_the_new_pipeline(
    home: Path, tmp_path: Path, tiny_sd: Path, narrow_sd: Path
) -> None:
    home.mkdir(parents=True)
    (home / "config.toml").write_text(
        f'[models.sd-old]\nfile = "{tiny_sd}"\n\n[models.sd-new]\nfile = "{narrow_sd}"\n'
    )
    clip = tiny_clip_model(tmp_path / "clip")
    (tmp_path / "checks.py").write_text(CHECKS)
    bright = [{"type": "python", "value": "checks.py:brightness"}]
    scored = prompt_file(
        tmp_path,
        [
            {"id": "wide", "prompt": "a red bicycle", "size": "48x32", "seed": 3, "assert": bright},
            {"id": "night", "prompt": "a lighthouse at night", "assert": bright},
        ],
        "scored.jsonl",
    )
    plain = prompt_file(tmp_path, [{"id": "cats", "prompt": "two cats on a sofa"}], "plain.jsonl")
    for args in ([str(scored), "--clip", str(clip)], [str(plain)]):
        done = invoke("compare", *args, "-m", "sd-old", "--steps", "1", "--seed", "7", "-q")
        assert done.returncode == 0, done.stderr
    plain_id, scored_id = (json.loads(line)["id"] for line in invoke("runs", "--json").stdout.splitlines())
    old_calls = _asked("sd-old")

    table = invoke("revalidate", "sd-old", "--with", "sd-new")
    assert table.returncode == 0, table.stderr
    _, plain_line, scored_line, clip_line, note = table.stdout.strip().splitlines()
    assert plain_line.split()[:3] == [plain_id, "compare", str(plain)] and "no scores" in plain_line
    assert scored_line.split()[:3] == [scored_id, "compare", str(scored)]
    assert clip_line.split()[:4] == [scored_id, "compare", str(scored), "clip"]
    for line in (scored_line, clip_line):
        assert {"better", "worse", "indistinguishable"} & set(line.split())
    assert note.startswith(f"{plain_id} {plain}: its prompts have no checks and it had no CLIP model")
    assert _asked("sd-new") == 3  # every picture drawn on the new pipeline; the old asked nothing
    assert _asked("sd-old") == old_calls

    # with the CLIP folder gone the checks are still weighed, and the CLIP row says why it is not
    clip.rename(tmp_path / "moved")
    done = invoke("revalidate", "sd-old", "--with", "sd-new", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    plain_row, scored_row, clip_row = report["rows"]
    assert report["skipped"] == [] and _asked("sd-new") == 3  # drawn already: from the cache
    assert plain_row["verdict"] == "no scores" and plain_row["old"]["score"] is None
    assert clip_row["new"]["score"] is None and clip_row["old"]["score"] is not None
    assert clip_row["verdict"] == "not comparable" and clip_row["note"] == (
        f"not scored again: {clip}, the CLIP model the run was scored by, is gone"
    )

    # drawn again with the run's seeds and each prompt's own size: other weights, other pictures
    old, new = _drawn(home, scored_id), _drawn(home, scored_row["new"]["run_id"])
    assert {p: (seed, size) for p, (seed, size, _) in new.items()} == {
        "wide": (3, "48x32"),
        "night": (7, "32x32"),
    }
    assert {p: (seed, size) for p, (seed, size, _) in old.items()} == {
        "wide": (3, "48x32"),
        "night": (7, "32x32"),
    }
    assert all(old[p][2] != new[p][2] for p in old)
    old_values = {p: brightness(data) for p, (_, _, data) in old.items()}
    new_values = {p: brightness(data) for p, (_, _, data) in new.items()}
    assert scored_row["old"]["score"] == pytest.approx(sum(old_values.values()) / 2)
    assert scored_row["new"]["score"] == pytest.approx(sum(new_values.values()) / 2)
    assert scored_row["difference"]["prompts"] == 2
    assert scored_row["difference"]["difference"] == pytest.approx(
        sum(new_values[p] - old_values[p] for p in old) / 2
    )
