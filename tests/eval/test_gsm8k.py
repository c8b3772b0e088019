"""GSM8K as lm-evaluation-harness scores it: its two filters and exact_match on hand-written
replies, its few-shot draw against lm-eval's own sampler, and a small GSM8K-format dataset
asked of the embedded model through the task's own items, ask and score."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from lm_eval.api.metrics import exact_match_hf_evaluate
from lm_eval.api.samplers import ContextSampler
from lm_eval.filters.extraction import RegexFilter

from tests.support.evals import asked, gsm8k_problem, lm_eval_task, write_gsm8k
from weighbridge.capabilities import Capabilities
from weighbridge.eval.fewshot import random_shots
from weighbridge.eval.gsm8k import FILTERS, GSM8K, IGNORED, INVALID, UNTIL, exact_match, extract
from weighbridge.eval.task import DEFAULT_SEED, GENERATION, Setup

YAML = lm_eval_task("gsm8k/gsm8k.yaml")


@pytest.mark.parametrize(
    ("reply", "strict", "flexible"),
    [
        ("She pays 3 * 4 = 12 dollars.\n#### 12", "12", "12"),
        ("#### -7\nQuestion", "-7", "-7"),
        ("#### 1,234.\nThen 5 more.", "1,234.", "5"),
        ("The total is $1,250.50.", INVALID, "$1,250.50."),
        ("He has 5 apples and 12 pears, so 17", INVALID, "17"),
        ("She lost -3 points", INVALID, "-3"),
        ("#### 4 and #### 5", "4", "5"),
        ("no numbers at all", INVALID, INVALID),
        ("####12", INVALID, "12"),
    ],
)
def test_the_two_filters_read_what_lm_eval_reads(reply: str, strict: str, flexible: str) -> None:
    assert (extract(reply, "strict-match"), extract(reply, "flexible-extract")) == (strict, flexible)
    for name, (pattern, select) in FILTERS.items():
        [[theirs]] = RegexFilter(pattern.pattern, select).apply([[reply]], [{}])
        assert extract(reply, name) == theirs


def test_exact_match_ignores_commas_dollars_a_final_point_and_the_worked_answer() -> None:
    reference = "She makes 1000 + 250 = <<1000+250=1250>>1,250 dollars.\n#### 1,250"
    cases = [("1,250", reference, True), ("$1250.", reference, True), ("1250.0", reference, False),
             (INVALID, reference, False), ("-3", "#### -3", True), ("3", "#### -3", False)]  # fmt: skip
    settings = {
        k: v for k, v in YAML["metric_list"][0].items() if k.startswith("ignore") or k.startswith("regexes")
    }
    for prediction, target, equal in cases:
        assert exact_match(prediction, target) is equal
        assert exact_match_hf_evaluate([prediction], [target], **settings)["exact_match"] == equal


def test_the_settings_are_gsm8k_yamls() -> None:
    assert [(f["name"], f["filter"][0]["regex_pattern"], f["filter"][0].get("group_select", 0))
            for f in YAML["filter_list"]] == [(n, p.pattern, s) for n, (p, s) in FILTERS.items()]  # fmt: skip
    assert YAML["metric_list"][0]["regexes_to_ignore"] == [p.pattern for p in IGNORED]
    assert YAML["generation_kwargs"]["until"] == UNTIL
    assert (YAML["dataset_path"], YAML["dataset_name"], YAML["test_split"]) == (
        "openai/gsm8k",
        "main",
        "test",
    )


def test_few_shot_examples_are_lm_evals_own_draw() -> None:
    pool = [gsm8k_problem(n) for n in range(12)]
    ours = random_shots(pool, questions=6, k=3, seed=DEFAULT_SEED)
    sampler = ContextSampler(pool, rnd=None).set_rnd(DEFAULT_SEED)  # as lm-eval seeds a task
    theirs = [list(sampler.sample(n=3, eval_doc=None)) for _ in range(6)]
    assert ours == theirs
    assert len({json.dumps(shots) for shots in ours}) == 6  # each question its own draw


def test_items_are_the_chat_lm_eval_sends(tmp_path: Path) -> None:
    data = write_gsm8k(tmp_path / "gsm8k", test=3, train=5)
    task = GSM8K()
    assert task.method(Capabilities(weights="remote", operations=frozenset({"chat"}))) == GENERATION
    assert task.metrics(GENERATION) == ("exact_match,strict-match", "exact_match,flexible-extract")
    assert task.shots(Setup()) == 5 and task.shots(Setup(shots=0)) == 0  # gsm8k.yaml's num_fewshot
    assert len(task.items(Setup(limit=1, data_dir=data), GENERATION)[0].ask["messages"]) == 11
    items = task.items(Setup(limit=2, shots=2, data_dir=data), GENERATION)
    assert [item.id for item in items] == ["0", "1"]
    [first, second] = random_shots([gsm8k_problem(n) for n in range(100, 105)], 1, 2, DEFAULT_SEED)[0]
    assert items[0].ask["messages"] == [
        {"role": "user", "content": f"Question: {first['question']}\nAnswer:"},
        {"role": "assistant", "content": first["answer"]},
        {"role": "user", "content": f"Question: {second['question']}\nAnswer:"},
        {"role": "assistant", "content": second["answer"]},
        {"role": "user", "content": f"Question: {gsm8k_problem(0)['question']}\nAnswer:"},
    ]
    assert items[0].ask["until"] == ["Question:", "</s>", "<|im_end|>"]
    assert items[0].ask["temperature"] == 0 and items[0].ask["max_tokens"] == 256


@pytest.mark.long(6)
def test_the_embedded_model_answers_and_is_scored(tmp_path: Path) -> None:
    data = write_gsm8k(tmp_path / "gsm8k", test=2, train=3)
    task = dataclasses.replace(GSM8K(), max_tokens=24)
    items = task.items(Setup(shots=1, data_dir=data), GENERATION)

    for item, record in asked(task, items):
        assert record["reply"] and "Question:" not in record["reply"]
        assert record["strict-match"] == extract(record["reply"], "strict-match")
        assert record["flexible-extract"] == extract(record["reply"], "flexible-extract")
        scores = task.score(item, record)
        assert set(scores) == set(task.metrics(GENERATION))
        assert scores["exact_match,flexible-extract"] == float(
            exact_match(record["flexible-extract"], item.reference["answer"])
        )
