"""Scoring multiple choice by log-likelihood: how likely the model finds each choice as the
continuation of the question's prompt, summed over the choice's tokens.

Tokens are split as lm-evaluation-harness splits them, so the two agree item by item: trailing
whitespace of the prompt moves to the continuation, the prompt and the whole text are each
tokenized without special tokens, and the continuation is what the whole has past the prompt's
tokens; the prompt's tokens followed by the continuation's are what is scored.

A model whose provider offers ``score`` gets each question in one call, which evaluates the
prompt once for every choice. Any other model that shows log-probabilities (an
OpenAI-compatible upstream) gets one text completion per choice, the whole token sequence
echoed with its log-probabilities and nothing generated.
"""

from __future__ import annotations

import asyncio

from weighbridge.client import Client
from weighbridge.errors import InvalidRequestError
from weighbridge.targets import resolve
from weighbridge.types import ContinuationScore, ScoreRequest, TextRequest


async def score_choices(
    client: Client, model: str, context: str, continuations: list[str]
) -> list[ContinuationScore]:
    """Each continuation's log-likelihood after ``context``: in one call where the model's
    provider scores continuations, else one echoed completion per continuation, concurrently."""
    prompt, choices = await _encode(client, model, context, continuations)
    if resolve(client.settings, model).capabilities.offers("score"):
        request = ScoreRequest(model=model, prompt=prompt, continuations=choices)
        return (await client.ascore(request, source="eval")).scores
    return list(await asyncio.gather(*(_echoed(client, model, prompt, c) for c in choices)))


async def _encode(
    client: Client, model: str, context: str, continuations: list[str]
) -> tuple[list[int], list[list[int]]]:
    """The prompt's tokens (the same for every choice: tokenized once) and each choice's. As
    lm-eval's ``_encode_pair``: the prompt's trailing whitespace belongs to the choices."""
    prompt = await client.atokenizer(model, "tokenize", context.rstrip(), False)
    wholes = await asyncio.gather(
        *(client.atokenizer(model, "tokenize", context + c, False) for c in continuations)
    )
    for continuation, whole in zip(continuations, wholes, strict=True):
        if not 0 < len(prompt) < len(whole):
            raise InvalidRequestError(f"the choice {continuation!r} adds no token to its prompt on {model}")
    return prompt, [whole[len(prompt) :] for whole in wholes]


async def _echoed(client: Client, model: str, prompt: list[int], choice: list[int]) -> ContinuationScore:
    answer = await client.acomplete_text(
        TextRequest(model=model, prompt=prompt + choice, max_tokens=0, echo=True, logprobs=1, temperature=0),
        source="eval",
    )
    if answer.logprobs is None:
        raise InvalidRequestError(f"{model} returned no log-probabilities for its prompt")
    logprobs = answer.logprobs.token_logprobs[len(prompt) :]
    tops = (answer.logprobs.top_logprobs or [])[len(prompt) :]
    greedy = all(
        top and lp is not None and lp >= max(top.values()) for lp, top in zip(logprobs, tops, strict=False)
    )
    return ContinuationScore(logprob=sum(lp for lp in logprobs if lp is not None), greedy=greedy)
