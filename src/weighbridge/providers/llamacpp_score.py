"""Continuations of one prompt scored on a llama.cpp model, the prompt evaluated once for all.

The prompt is evaluated once, after whatever start of it the model still holds from the call
before (questions that share their few-shot examples share that work too). Then, for each
continuation, the cache cells past the prompt are dropped and the continuation is evaluated in
their place. A token's log-probability comes from the logits at the position before it: the
prompt's last position predicts every continuation's first token, and a continuation's last
token is never evaluated at all, so one-token answers ("A", "B", ...) cost nothing past the
prompt.

Only those positions' logits are computed (llama.cpp computes a batch's logits where it is
asked to), where an echoed text completion computes every position's and normalises a row of
the whole vocabulary per prompt token. This runs on the model's worker thread, on its chat
instance, and keeps that instance's record of what its cache holds (``input_ids``,
``n_tokens``) true, so the next chat reuses what it can, as after any other call.

Questions asked at once wait in line on that thread, one call each, in the order asked, so
questions that follow one another still share their few-shot examples. Nothing faster is left
on the table by not batching them together: on CPU a prompt is read at the same speed in
batches of 16 tokens as of 400 (about 300 tokens/s on 2 cores for the embedded model), and the
llama-server engine cannot score a prompt at all (it reports log-probabilities for generated
tokens only).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from weighbridge.errors import InvalidRequestError
from weighbridge.providers.llamacpp_text import keep_held_prefix, log_softmax
from weighbridge.types import ContinuationScore, ScoreRequest, Scores, Usage


def score(llama: Any, request: ScoreRequest) -> Scores:
    """Each continuation's log-likelihood after the prompt, and whether it is greedy."""
    prompt, continuations = request.prompt, request.continuations
    longest = len(prompt) + max(map(len, continuations)) - 1  # a last token is never evaluated
    if longest > llama.n_ctx():
        raise InvalidRequestError(
            f"the prompt and its longest continuation are {longest + 1} tokens; "
            f"this model's context here is {llama.n_ctx()}"
        )
    held = keep_held_prefix(llama, prompt)
    after_prompt = _decode(llama, prompt[held:], every=False)
    scores = []
    for tokens in continuations:
        llama.n_tokens = len(prompt)
        logits = after_prompt
        if len(tokens) > 1:
            logits = np.concatenate([after_prompt, _decode(llama, tokens[:-1], every=True)])
        scores.append(continuation_score(logits, tokens))
    usage = Usage(prompt_tokens=len(prompt) + sum(map(len, continuations)), cached_tokens=held)
    return Scores(scores=scores, usage=usage)


def continuation_score(logits: Any, tokens: list[int]) -> ContinuationScore:
    """The score of ``tokens`` from the logits that predicted them (row i predicts token i)."""
    logprobs = log_softmax(logits)
    chosen = logprobs[np.arange(len(tokens)), tokens]
    return ContinuationScore(logprob=float(chosen.sum()), greedy=bool((chosen >= logprobs.max(axis=1)).all()))


def _decode(llama: Any, tokens: list[int], *, every: bool) -> Any:
    """Evaluate ``tokens`` after the first ``llama.n_tokens`` the model holds, as
    ``Llama.eval`` does (the cells past them dropped, the record of what is held kept), and
    return the logits, in float64, at each of them (``every``) or at the last only.

    ``Llama.eval`` computes every position's logits on an instance made with ``logits_all``
    and keeps none on any other, so this makes its low-level calls itself, asking for the rows
    it needs."""
    llama._ctx.kv_cache_seq_rm(-1, llama.n_tokens, -1)
    rows = []
    for start in range(0, len(tokens), llama.n_batch):
        chunk = tokens[start : start + llama.n_batch]
        llama._batch.set_batch(batch=chunk, n_past=llama.n_tokens, logits_all=every)
        llama._ctx.decode(llama._batch)
        llama.input_ids[llama.n_tokens : llama.n_tokens + len(chunk)] = chunk
        llama.n_tokens += len(chunk)
        if every or start + len(chunk) == len(tokens):
            shape = (len(chunk) if every else 1, llama.n_vocab())
            rows.append(np.ctypeslib.as_array(llama._ctx.get_logits(), shape=shape).astype(np.float64))
    return np.concatenate(rows)
