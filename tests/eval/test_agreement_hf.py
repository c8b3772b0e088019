"""weighbridge's scores against lm-evaluation-harness's on a Hugging Face checkpoint: lm-eval's
own ``hf`` backend (transformers in its process, as most lm-eval users run a local model) and
``weighbridge.evaluate`` on a config-declared model served by the transformers provider, on the
same folder and the same MMLU-format data. The second log-likelihood backend the agreement
tests hold to lm-eval, after llama.cpp's (tests/eval/test_agreement.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

import weighbridge
from tests.support.evals import MMLU_TASK, loglikelihoods, results, run_lm_eval, samples, write_mmlu
from weighbridge.eval.task import LOGLIKELIHOOD

#: Both sides run the same float32 weights through the same torch on the same tokens, one
#: sequence at a time (no padding); they differ only in float rounding. lm-eval takes the
#: log-softmax in float32 over all the prompt's positions; weighbridge keeps the last position's
#: logits alone and takes it in float64. Measured on these prompts: at most 2e-5 apart (5e-6
#: with lm-eval's ``softmax_dtype=float64``); a wrong token or position would be off by 0.1 or more.
TOLERANCE = 1e-4


@pytest.mark.long(45)
def test_loglikelihoods_equal_lm_evaluations_hf_backend_item_by_item(
    home: Path, tmp_path: Path, hf_checkpoint: Path
) -> None:
    tasks = write_mmlu(tmp_path)
    model = ["--model", "hf", "--model_args", f"pretrained={hf_checkpoint},dtype=float32"]
    out = run_lm_eval(
        tmp_path, model, MMLU_TASK, tasks, "--device", "cpu", "--batch_size", "1", "--num_fewshot", "1"
    )
    theirs = loglikelihoods(out)
    their_acc = {s["doc_id"]: s["acc"] for s in samples(out)}

    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(f'[models.smol-hf]\nfile = "{hf_checkpoint}"\n')
    (result,) = weighbridge.evaluate("smol-hf", "mmlu", shots=1, data_dir=tmp_path).results
    assert result.method == LOGLIKELIHOOD and not result.errors

    ours = {int(o.id.rpartition("/")[2]): o for o in result.outcomes}  # ids are "geography/<row>"
    assert sorted(ours) == sorted(theirs)
    for doc_id, outcome in ours.items():
        mine = outcome.record["loglikelihoods"]
        assert mine == pytest.approx(theirs[doc_id], abs=TOLERANCE), (doc_id, mine, theirs[doc_id])
        assert outcome.values["acc"] == their_acc[doc_id], doc_id
    assert result.scores("acc")[""].mean == pytest.approx(results(out, MMLU_TASK)["acc,none"])
