"""weighbridge's scores against lm-evaluation-harness's, on the same model and the same data:
lm-eval run as users run it against the gateway, and weighbridge's own tasks in-process.

Multiple choice: lm-eval's ``local-completions`` (the model's tokenizer through the gateway's
``/tokenize``) on MMLU- and ARC-shaped tasks with their templates; item by item, the
log-likelihood of every choice and the answer chosen are the same. GSM8K: lm-eval's
``local-chat-completions --apply_chat_template`` on a task with gsm8k.yaml's own settings; item
by item, the chat sent, the reply, both filters' answers and their exact_match are the same."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import evals
from tests.support.evals import (
    DEV,
    MMLU_TASK,
    QUESTIONS,
    asked,
    lm_eval_task,
    loglikelihoods,
    results,
    samples,
    write_gsm8k,
    write_jsonl,
    write_mmlu,
)
from tests.support.gateway import serving
from weighbridge.eval.gsm8k import FILTERS, GSM8K
from weighbridge.eval.scores import mean_score
from weighbridge.eval.task import GENERATION, LOGLIKELIHOOD, Item, Setup, Task
from weighbridge.eval.tasks import MULTIPLE_CHOICE as TASKS


def run_lm_eval(tmp_path: Path, base: str, task: str, tasks: Path, *extra: str, chat: bool = False) -> Path:
    """lm-eval as users run it against the gateway, offline (``chat``: as a chat model, the only
    way a chat API takes it); where it wrote its results."""
    model = (
        ["--model", "local-chat-completions", "--apply_chat_template",
         "--model_args", f"model=smollm2-135m,base_url={base}/v1/chat/completions,max_retries=1"]
        if chat
        else ["--model", "local-completions",
              "--model_args", f"model=smollm2-135m,base_url={base}/v1/completions,tokenizer_backend=remote,max_retries=1"]
    )  # fmt: skip
    return evals.run_lm_eval(tmp_path, model, task, tasks, *extra)


@pytest.mark.long(25)
def test_loglikelihoods_equal_lm_evaluation_harness_item_by_item(home: Path, tmp_path: Path) -> None:
    tasks = write_mmlu(tmp_path)
    with serving(home) as base:
        out = run_lm_eval(tmp_path, base, MMLU_TASK, tasks, "--num_fewshot", "2")
    theirs = loglikelihoods(out)
    their_acc = results(out, MMLU_TASK)

    task = TASKS["mmlu"]
    ours = asked(task, task.items(Setup(shots=2, data_dir=tmp_path), LOGLIKELIHOOD))

    for doc_id, (_, record) in enumerate(ours):
        mine = record["loglikelihoods"]
        assert mine == pytest.approx(theirs[doc_id], abs=1e-3), (doc_id, mine, theirs[doc_id])
    assert _mean(task, ours, "acc") == pytest.approx(their_acc["acc,none"])


def _mean(task: Task, answered: list[tuple[Item, dict[str, Any]]], metric: str) -> float:
    return mean_score([task.score(item, record)[metric] for item, record in answered]).mean


#: lm-eval's ARC template (lm_eval/tasks/arc/arc_easy.yaml): the choices' own texts, acc_norm too,
#: few-shot examples drawn from the training split by its seeded sampler.
ARC_YAML = """
task: wb_arc
dataset_path: json
dataset_kwargs:
  data_files:
    test: {test}
    train: {train}
training_split: train
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
def test_arc_few_shot_and_acc_norm_equal_lm_evaluation_harness(home: Path, tmp_path: Path) -> None:
    def arc(items: list[tuple[str, list[str], int]]) -> list[dict[str, object]]:
        return [
            {
                "id": f"q{n}",
                "question": q,
                "choices": {"text": c, "label": list("ABCD")},
                "answerKey": "ABCD"[a],
            }
            for n, (q, c, a) in enumerate(items)
        ]

    data = tmp_path / "ARC-Easy"
    data.mkdir()
    test_file = write_jsonl(data / "test.jsonl", arc(QUESTIONS))
    train_file = write_jsonl(data / "train.jsonl", arc(QUESTIONS[::-1] + DEV))
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "wb_arc.yaml").write_text(ARC_YAML.format(test=test_file, train=train_file))
    with serving(home) as base:
        out = run_lm_eval(tmp_path, base, "wb_arc", tasks, "--num_fewshot", "2")
    theirs = loglikelihoods(out)
    their = results(out, "wb_arc")

    task = TASKS["arc_easy"]
    ours = asked(task, task.items(Setup(shots=2, data_dir=tmp_path), LOGLIKELIHOOD))
    for doc_id, (_, record) in enumerate(ours):
        assert record["loglikelihoods"] == pytest.approx(theirs[doc_id], abs=1e-3), doc_id
    assert _mean(task, ours, "acc") == pytest.approx(their["acc,none"])
    assert _mean(task, ours, "acc_norm") == pytest.approx(their["acc_norm,none"])


#: The generation budget on both sides: enough for the embedded model's worked answer to reach
#: its "#### <number>" on these questions, little enough to keep the test short.
GSM8K_TOKENS = 40


def gsm8k_yaml(data: Path) -> str:
    """lm-eval's own gsm8k.yaml, on local JSON lines, with a smaller ``max_gen_toks``."""
    spec = lm_eval_task("gsm8k/gsm8k.yaml")
    del spec["tag"], spec["dataset_name"]
    files = {split: str(data / "main" / f"{split}.jsonl") for split in ("test", "train")}
    spec.update(task="wb_gsm8k", dataset_path="json", dataset_kwargs={"data_files": files})
    spec["generation_kwargs"]["max_gen_toks"] = GSM8K_TOKENS
    return str(yaml.safe_dump(spec))


@pytest.mark.long(20)
def test_gsm8k_equals_lm_evaluation_harness_by_chat_item_by_item(home: Path, tmp_path: Path) -> None:
    data = write_gsm8k(tmp_path / "gsm8k", test=4, train=6)
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "wb_gsm8k.yaml").write_text(gsm8k_yaml(data))
    with serving(home) as base:
        out = run_lm_eval(tmp_path, base, "wb_gsm8k", tasks, "--num_fewshot", "2", chat=True)
    theirs = {(s["doc_id"], s["filter"]): s for s in samples(out)}
    their = results(out, "wb_gsm8k")

    task = dataclasses.replace(GSM8K(), max_tokens=GSM8K_TOKENS)
    ours = asked(task, task.items(Setup(shots=2, data_dir=data), GENERATION))
    for item, record in ours:
        doc = theirs[(int(item.id), "strict-match")]
        assert item.ask["messages"] == json.loads(doc["arguments"]["gen_args_0"]["arg_0"][0]), item.id
        assert record["reply"] == doc["resps"][0][0], item.id
        scores = task.score(item, record)
        for name in FILTERS:
            sample = theirs[(int(item.id), name)]
            assert [record[name]] == sample["filtered_resps"], (item.id, name)
            assert scores[f"exact_match,{name}"] == sample["exact_match"], (item.id, name)
    for metric in task.metrics(GENERATION):
        assert _mean(task, ours, metric) == pytest.approx(their[metric])
    assert any(record["strict-match"] != "[invalid]" for _, record in ours)  # "####" was reached
