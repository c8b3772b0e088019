"""What a GGUF file costs and how well it predicts: size, decode speed and perplexity.

Quantization trades quality for size and speed; these three numbers, taken the same way before
and after, are that trade. Perplexity is exp(mean negative log-likelihood) of a held-out text,
scored in windows of ``n_ctx`` tokens, each window starting from BOS as llama.cpp's own
``llama-perplexity`` does; lower is better, and only comparable on the same text and window.
Speed is decode tokens/s of a short greedy generation, timed from the first token out to the
last, so prompt processing and loading are not in it.

The model is loaded here directly (``logits_all`` needs its own context) and closed after;
every llama.cpp call for it is made from this one thread.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from weighbridge.errors import InvalidRequestError, ModelLoadError

#: The same prompt before and after, so the two speeds are comparable.
SPEED_PROMPT = "The history of weights and measures begins"


@dataclass(frozen=True)
class Measurement:
    size_bytes: int
    tokens_per_s: float | None
    perplexity: float
    tokens_scored: int


def heldout_text(path: Path | None = None) -> str:
    """The text perplexity is measured on: ``path``, else the English prose shipped here."""
    if path is None:
        return resources.files("weighbridge.own").joinpath("data/heldout.txt").read_text("utf-8")
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRequestError(f"cannot read the held-out text {path}: {exc}") from None


def measure(path: Path, text: str, *, n_ctx: int = 512, gen_tokens: int = 32) -> Measurement:
    """Size, decode tokens/s and perplexity on ``text`` of the GGUF at ``path``."""
    import logging

    from llama_cpp import Llama

    logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)  # as Llama(verbose=False) does
    threads = threads_to_use()
    try:
        llama = Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_batch=n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            logits_all=True,
            verbose=False,
        )
    except (ValueError, RuntimeError, OSError) as exc:
        raise ModelLoadError(f"cannot load {path}: llama.cpp rejected it ({exc})") from None
    with closing(llama):
        tokens = llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        if len(tokens) < 2:
            raise InvalidRequestError("the held-out text is too short to measure perplexity on")
        ppl, scored = perplexity(llama, tokens, n_ctx)
        # The faster of two runs: a moment of contention on a shared machine should not decide it.
        runs = [tokens_per_second(llama, SPEED_PROMPT, gen_tokens) for _ in range(2)]
        speed = max((r for r in runs if r is not None), default=None)
    return Measurement(path.stat().st_size, speed, ppl, scored)


def perplexity(llama: Any, tokens: Sequence[int], n_ctx: int) -> tuple[float, int]:
    """exp(mean NLL) over ``tokens`` in windows of ``n_ctx``, and how many tokens were scored."""
    import numpy as np

    from weighbridge.providers.llamacpp_text import next_token_logprobs

    bos = llama.token_bos()
    lead = [bos] if bos >= 0 else []
    step = n_ctx - len(lead)
    nll, scored = 0.0, 0
    for start in range(0, len(tokens), step):
        window = [*lead, *tokens[start : start + step]]
        if len(window) < 2:
            break
        llama.reset()
        llama.eval(window)
        logprobs = next_token_logprobs(llama, len(window))
        targets = np.asarray(window[1:])
        nll -= float(logprobs[np.arange(len(targets)), targets].sum())
        scored += len(targets)
    return math.exp(nll / scored), scored


def tokens_per_second(llama: Any, prompt: str, n: int) -> float | None:
    """Greedy decode speed from the first token out to the last; None if it stopped too soon."""
    llama.reset()
    prompt_tokens = llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=False)
    first: float | None = None
    pieces = llama.create_completion(prompt_tokens, max_tokens=n, temperature=0.0, stream=True)
    for _ in pieces:
        first = first or time.perf_counter()
    elapsed = time.perf_counter() - first if first is not None else 0.0
    generated = int(llama.n_tokens) - len(prompt_tokens)  # the first one is not in the timing
    if generated < 3 or elapsed <= 0:
        return None
    return float(generated - 1) / elapsed


def threads_to_use() -> int:
    """The CPU threads llama.cpp gets, chosen as the serving path chooses them."""
    return int(os.environ.get("WEIGHBRIDGE_THREADS", 0)) or len(os.sched_getaffinity(0))
