"""weighbridge's multiple-choice scoring against lm-evaluation-harness's, on the same model and
the same data: lm-eval run as users run it (``local-completions`` against the gateway, the
model's tokenizer through the gateway's ``/tokenize``) on an MMLU-shaped task with its template,
and weighbridge's own scoring in-process. Item by item, the log-likelihood of every choice and
the answer chosen are the same."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.gateway import serving
from weighbridge.client import Client
from weighbridge.config import load_settings
from weighbridge.eval.multiple_choice import Answered, answer, scores
from weighbridge.eval.tasks import TASKS, MultipleChoiceTask, Question

QUESTIONS = [
    ("What is the capital of France?", ["Berlin", "Paris", "Madrid", "Rome"], 1),
    ("What is the capital of Japan?", ["Tokyo", "Seoul", "Beijing", "Bangkok"], 0),
    ("Which ocean is the largest?", ["Atlantic", "Indian", "Arctic", "Pacific"], 3),
    ("What is the capital of Italy?", ["Milan", "Rome", "Naples", "Turin"], 1),
    ("Which continent is Egypt in?", ["Asia", "Europe", "Africa", "Oceania"], 2),
    ("What is the capital of Spain?", ["Lisbon", "Barcelona", "Madrid", "Seville"], 2),
]
DEV = [
    ("What is the capital of Germany?", ["Berlin", "Vienna", "Bern", "Prague"], 0),
    ("Which river flows through Cairo?", ["Amazon", "Danube", "Nile", "Thames"], 2),
]
#: lm-eval's MMLU template (lm_eval/tasks/mmlu/default/_default_template_yaml), for one subject.
TASK_YAML = """
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


def run_lm_eval(tmp_path: Path, base: str, task: str, tasks: Path, *extra: str) -> Path:
    """lm-eval as users run it against the gateway, offline; where it wrote its results."""
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-m", "lm_eval", "--model", "local-completions", "--model_args",
         f"model=smollm2-135m,base_url={base}/v1/completions,tokenizer_backend=remote,max_retries=1",
         "--tasks", task, "--include_path", str(tasks), "--output_path", str(out), "--log_samples", *extra],
        env=dict(os.environ, HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf")),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    return out


def rows(items: list[tuple[str, list[str], int]]) -> list[dict[str, object]]:
    return [{"question": q, "subject": "geography", "choices": c, "answer": a} for q, c, a in items]


def write_jsonl(path: Path, items: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in items))
    return path


@pytest.mark.long(25)
def test_loglikelihoods_equal_lm_evaluation_harness_item_by_item(home: Path, tmp_path: Path) -> None:
    test_file = write_jsonl(tmp_path / "test.jsonl", rows(QUESTIONS))
    dev_file = write_jsonl(tmp_path / "dev.jsonl", rows(DEV))
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "wb_mmlu_geography.yaml").write_text(TASK_YAML.format(test=test_file, dev=dev_file))

    with serving(home) as base:
        out = run_lm_eval(tmp_path, base, "wb_mmlu_geography", tasks, "--num_fewshot", "2")
    samples = [json.loads(line) for line in next(out.rglob("samples_*.jsonl")).read_text().splitlines()]
    theirs = {s["doc_id"]: [float(r[0][0]) for r in s["resps"]] for s in samples}
    their_acc = json.loads(next(out.rglob("results_*.json")).read_text())["results"]["wb_mmlu_geography"]

    task = TASKS["mmlu"]
    questions = [task.to_question(i, row) for i, row in enumerate(rows(QUESTIONS))]
    pool = [task.to_question(i, row) for i, row in enumerate(rows(DEV))]
    with Client(load_settings()) as client:
        ours = asyncio.run(_answer(client, task, questions, pool, shots=2))

    for doc_id, item in enumerate(ours):
        mine = [s.logprob for s in item.scores]
        assert mine == pytest.approx(theirs[doc_id], abs=1e-3), (doc_id, mine, theirs[doc_id])
    assert scores(ours, "acc")[""].mean == pytest.approx(their_acc["acc,none"])


async def _answer(
    client: Client, task: MultipleChoiceTask, questions: list[Question], pool: list[Question], shots: int
) -> list[Answered]:
    try:
        return await answer(client, "smollm2-135m", task, questions, pool, shots=shots)
    finally:
        await client.aclose()


#: lm-eval's ARC template (lm_eval/tasks/arc/arc_easy.yaml): the choices' own texts, acc_norm too.
ARC_YAML = """
task: wb_arc
dataset_path: json
dataset_kwargs:
  data_files:
    test: {test}
test_split: test
output_type: multiple_choice
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_target: "{{{{choices.label.index(answerKey)}}}}"
doc_to_choice: "{{{{choices.text}}}}"
metric_list:
  - metric: acc
  - metric: acc_norm
metadata:
  version: 1.0
"""


@pytest.mark.long(20)
def test_arc_and_acc_norm_equal_lm_evaluation_harness(home: Path, tmp_path: Path) -> None:
    arc = [
        {"id": f"q{n}", "question": q, "choices": {"text": c, "label": list("ABCD")}, "answerKey": "ABCD"[a]}
        for n, (q, c, a) in enumerate(QUESTIONS)
    ]
    test_file = write_jsonl(tmp_path / "arc.jsonl", arc)
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "wb_arc.yaml").write_text(ARC_YAML.format(test=test_file))
    with serving(home) as base:
        out = run_lm_eval(tmp_path, base, "wb_arc", tasks)
    samples = [json.loads(line) for line in next(out.rglob("samples_*.jsonl")).read_text().splitlines()]
    theirs = {s["doc_id"]: [float(r[0][0]) for r in s["resps"]] for s in samples}
    their = json.loads(next(out.rglob("results_*.json")).read_text())["results"]["wb_arc"]

    task = TASKS["arc_easy"]
    questions = [task.to_question(i, row) for i, row in enumerate(arc)]
    with Client(load_settings()) as client:
        ours = asyncio.run(_answer(client, task, questions, [], shots=0))
    for doc_id, item in enumerate(ours):
        assert [s.logprob for s in item.scores] == pytest.approx(theirs[doc_id], abs=1e-3), doc_id
    assert scores(ours, "acc")[""].mean == pytest.approx(their["acc,none"])
    assert scores(ours, "acc_norm")[""].mean == pytest.approx(their["acc_norm,none"])
