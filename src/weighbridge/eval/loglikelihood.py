"""Scoring multiple choice by log-likelihood: how likely the model finds each choice as the
continuation of the question's prompt, summed over the choice's tokens.

Tokens are split as lm-evaluation-harness splits them, so the two agree item by item: trailing
whitespace of the prompt moves to the continuation, the prompt and the whole text are each
tokenized without special tokens, and the continuation is what the whole has past the prompt's
tokens. Each choice is then one text completion of the whole token sequence, echoed with its
log-probabilities and nothing generated.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from weighbridge.client import Client
from weighbridge.errors import InvalidRequestError
from weighbridge.types import TextRequest


@dataclass(frozen=True)
class ChoiceScore:
    logprob: float
    #: Whether every continuation token was the model's most likely one (lm-eval's ``is_greedy``).
    greedy: bool


def split_pair(context: str, continuation: str) -> tuple[str, str]:
    """lm-eval's ``_encode_pair`` first step: the prompt's trailing spaces belong to the choice."""
    spaces = len(context) - len(context.rstrip())
    if spaces:
        return context[:-spaces], context[-spaces:] + continuation
    return context, continuation


async def score_choices(
    client: Client, model: str, context: str, continuations: list[str]
) -> list[ChoiceScore]:
    """Each continuation's log-likelihood after ``context``, asked concurrently. The prompt
    without its trailing spaces is the same for every choice: it is tokenized once."""
    prompt, _ = split_pair(context, "")
    prompt_tokens = len(await client.atokenizer(model, "tokenize", prompt, False))
    return list(
        await asyncio.gather(*(_score(client, model, context, c, prompt_tokens) for c in continuations))
    )


async def _score(
    client: Client, model: str, context: str, continuation: str, prompt_tokens: int
) -> ChoiceScore:
    context, continuation = split_pair(context, continuation)
    whole = await client.atokenizer(model, "tokenize", context + continuation, False)
    if not 0 < prompt_tokens < len(whole):
        raise InvalidRequestError(f"the choice {continuation!r} adds no token to its prompt on {model}")
    answer = await client.acomplete_text(
        TextRequest(model=model, prompt=whole, max_tokens=0, echo=True, logprobs=1, temperature=0),
        source="eval",
    )
    if answer.logprobs is None:
        raise InvalidRequestError(f"{model} returned no log-probabilities for its prompt")
    logprobs = answer.logprobs.token_logprobs[prompt_tokens : len(whole)]
    tops = (answer.logprobs.top_logprobs or [])[prompt_tokens : len(whole)]
    greedy = all(
        top and lp is not None and lp >= max(top.values()) for lp, top in zip(logprobs, tops, strict=False)
    )
    return ChoiceScore(sum(lp for lp in logprobs if lp is not None), greedy)
