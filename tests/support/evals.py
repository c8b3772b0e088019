"""Benchmark tasks asked the way ``weighbridge eval`` asks them, without its runner (items, then
each item's ``ask`` on one client); MMLU- and GSM8K-shaped data to ask them on; and
lm-evaluation-harness run offline on the same data, with what it wrote read back."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from weighbridge.client import Client
from weighbridge.config import load_settings
from weighbridge.eval.task import Item, Task


def asked(task: Task, items: list[Item], model: str = "smollm2-135m") -> list[tuple[Item, dict[str, Any]]]:
    """Each item asked of ``model`` (the embedded one unless told), with its record."""

    async def ask_all(client: Client) -> list[dict[str, Any]]:
        try:
            return list(await asyncio.gather(*(task.ask(client, model, item) for item in items)))
        finally:
            await client.aclose()

    with Client(load_settings()) as client:
        return list(zip(items, asyncio.run(ask_all(client)), strict=True))


def lm_eval_task(path: str) -> dict[str, Any]:
    """One of lm-eval's own task files, as installed (``gsm8k/gsm8k.yaml``)."""
    import lm_eval
    import yaml

    return dict(yaml.safe_load((Path(lm_eval.__file__).parent / "tasks" / path).read_text()))


def gsm8k_problem(n: int) -> dict[str, str]:
    """A GSM8K-shaped row: the worked answer ends in ``#### <number>``."""
    return {
        "question": f"Tom has {n} apples and buys {n + 2} more. How many apples does he have?",
        "answer": f"Tom has {n} + {n + 2} = <<{n}+{n + 2}={2 * n + 2}>>{2 * n + 2} apples.\n#### {2 * n + 2}",
    }


def write_gsm8k(folder: Path, test: int, train: int) -> Path:
    """The hub's ``openai/gsm8k`` exported as JSON lines (``main/<split>.jsonl``); the train
    rows are numbered from 100, so no example is a test question."""
    (folder / "main").mkdir(parents=True)
    for split, rows in (("test", range(test)), ("train", range(100, 100 + train))):
        lines = "".join(json.dumps(gsm8k_problem(n)) + "\n" for n in rows)
        (folder / "main" / f"{split}.jsonl").write_text(lines)
    return folder


#: MMLU-shaped questions: (question, choices, index of the answer).
QUESTIONS = [
    ("What is the capital of France?", ["Berlin", "Paris", "Madrid", "Rome"], 1),
    ("What is the capital of Japan?", ["Tokyo", "Seoul", "Beijing", "Bangkok"], 0),
    ("Which ocean is the largest?", ["Atlantic", "Indian", "Arctic", "Pacific"], 3),
    ("What is the capital of Italy?", ["Milan", "Rome", "Naples", "Turin"], 1),
    ("Which continent is Egypt in?", ["Asia", "Europe", "Africa", "Oceania"], 2),
    ("What is the capital of Spain?", ["Lisbon", "Barcelona", "Madrid", "Seville"], 2),
]
#: MMLU's dev split: its few-shot examples.
DEV = [
    ("What is the capital of Germany?", ["Berlin", "Vienna", "Bern", "Prague"], 0),
    ("Which river flows through Cairo?", ["Amazon", "Danube", "Nile", "Thames"], 2),
]
MMLU_TASK = "wb_mmlu_geography"
#: lm-eval's MMLU template (lm_eval/tasks/mmlu/default/_default_template_yaml), for one subject.
MMLU_YAML = """
task: wb_mmlu_geography
dataset_path: json
dataset_kwargs:
  data_files:
    test: {test}
    dev: {dev}
test_split: test
fewshot_split: dev
fewshot_config:
  sampler: first_n
output_type: multiple_choice
description: "The following are multiple choice questions (with answers) about geography.\\n\\n"
doc_to_text: "{{{{question.strip()}}}}\\nA. {{{{choices[0]}}}}\\nB. {{{{choices[1]}}}}\\nC. {{{{choices[2]}}}}\\nD. {{{{choices[3]}}}}\\nAnswer:"
doc_to_choice: ["A", "B", "C", "D"]
doc_to_target: answer
metric_list:
  - metric: acc
metadata:
  version: 1.0
"""


def mmlu_rows(items: list[tuple[str, list[str], int]]) -> list[dict[str, object]]:
    return [{"question": q, "subject": "geography", "choices": c, "answer": a} for q, c, a in items]


def write_jsonl(path: Path, items: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in items))
    return path


def write_mmlu(folder: Path, questions: list[tuple[str, list[str], int]] = QUESTIONS) -> Path:
    """``questions`` and DEV as MMLU's test and dev splits in ``folder`` (what ``weighbridge
    eval --data`` reads), and lm-eval's task over them; the folder of lm-eval's task."""
    test = write_jsonl(folder / "test.jsonl", mmlu_rows(questions))
    dev = write_jsonl(folder / "dev.jsonl", mmlu_rows(DEV))
    tasks = folder / "tasks"
    tasks.mkdir()
    (tasks / f"{MMLU_TASK}.yaml").write_text(MMLU_YAML.format(test=test, dev=dev))
    return tasks


def run_lm_eval(tmp_path: Path, model: list[str], task: str, tasks: Path, *extra: str) -> Path:
    """``python -m lm_eval`` with ``model`` (``--model ...`` and its arguments) on ``task`` from
    ``tasks``, offline, logging every item; where it wrote its results."""
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-m", "lm_eval", *model,
         "--tasks", task, "--include_path", str(tasks), "--output_path", str(out), "--log_samples", *extra],
        env=dict(os.environ, HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf")),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    return out


def samples(out: Path) -> list[dict[str, Any]]:
    """lm-eval's per-item log (``--log_samples``): one line per item, and per filter."""
    return [json.loads(line) for line in next(out.rglob("samples_*.jsonl")).read_text().splitlines()]


def loglikelihoods(out: Path) -> dict[int, list[float]]:
    """Each multiple-choice item's choices' log-likelihoods as lm-eval logged them, by doc id."""
    return {s["doc_id"]: [float(r[0][0]) for r in s["resps"]] for s in samples(out)}


def results(out: Path, task: str) -> dict[str, Any]:
    return dict(json.loads(next(out.rglob("results_*.json")).read_text())["results"][task])
