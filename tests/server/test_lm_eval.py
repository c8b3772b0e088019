"""lm-evaluation-harness, unmodified, scoring the embedded model through the gateway: a
multiple-choice task by log-likelihood (``local-completions``, echo + logprobs, with the
gateway's own tokenizer routes) and a generation task (``local-chat-completions``). The gateway
runs in this process on a real port; ``lm_eval`` runs as a process of its own, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gateway import serving, settings_for
from tests.support.paths import DATA

DATA = DATA / "lm_eval"


@pytest.fixture(scope="module")
def gateway_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    home = tmp_path_factory.mktemp("gw")
    with serving(home) as base:
        yield base, home


def lm_eval(tmp_path: Path, model: str, model_args: str, task: str, *extra: str) -> dict[str, float]:
    """Run ``lm_eval`` as a user would, offline, on a task from tests/data/lm_eval."""
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    source = (DATA / f"{task}.yaml").read_text().replace("DATA_FILE", str(DATA / "capitals.jsonl"))
    (tasks / f"{task}.yaml").write_text(source)
    env = dict(os.environ, HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-m", "lm_eval", "--model", model, "--model_args", model_args, "--tasks", task,
         "--include_path", str(tasks), "--output_path", str(out), *extra],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(next(out.rglob("results_*.json")).read_text())
    return {k.split(",")[0]: v for k, v in results["results"][task].items() if isinstance(v, float)}


@pytest.mark.long(18)
def test_multiple_choice_by_loglikelihood(gateway_home: tuple[str, Path], tmp_path: Path) -> None:
    base, home = gateway_home
    args = f"model=smollm2-135m,base_url={base}/v1/completions,tokenizer_backend=remote,max_retries=1"
    scores = lm_eval(tmp_path, "local-completions", args, "wb_capitals_mc")
    assert scores["acc"] >= 0.66  # six capitals, four choices each: chance is 0.25
    store = settings_for(home).open_store()
    try:
        scored = [r for r in store.recent(100) if r.request and '"echo":true' in r.request]
    finally:
        store.close()
    assert len(scored) == 24  # one scoring request per choice, each logged


@pytest.mark.long(18)
def test_generation_through_chat_completions(gateway_home: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = gateway_home
    args = f"model=smollm2-135m,base_url={base}/v1/chat/completions,num_concurrent=2,max_retries=1"
    scores = lm_eval(tmp_path, "local-chat-completions", args, "wb_capitals_gen", "--apply_chat_template")
    assert scores["exact_match"] >= 0.5
