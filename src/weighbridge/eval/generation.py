"""Asking for a generated answer, as lm-evaluation-harness's generation tasks ask: greedy
(temperature 0), at most ``max_tokens``, cut at the first of the task's ``until`` strings."""

from __future__ import annotations

from typing import Any, NamedTuple

from weighbridge.client import Client

#: lm-eval's ``max_gen_toks`` when a task names none.
MAX_TOKENS = 256


def fewshot_chat(question: str, shots: list[tuple[str, str]], system: str = "") -> list[dict[str, Any]]:
    """The chat lm-eval sends a chat model (``--apply_chat_template``, which in lm-eval 0.4.13
    turns on ``--fewshot_as_multiturn`` too): the system instruction and the task's description,
    if any, as a system turn; each few-shot example as the user's question and the assistant's
    answer; then the question."""
    turns = [{"role": "system", "content": system}] if system else []
    for asked, answered in shots:
        turns += [{"role": "user", "content": asked}, {"role": "assistant", "content": answered}]
    return [*turns, {"role": "user", "content": question}]


def generation_ask(
    messages: list[dict[str, Any]], until: list[str], *, max_tokens: int = MAX_TOKENS
) -> dict[str, Any]:
    """An item's ``ask`` for a chat generation: what :func:`generate` sends."""
    return {"messages": messages, "until": until, "max_tokens": max_tokens, "temperature": 0}


class Reply(NamedTuple):
    text: str
    #: The snapshot that answered, where the provider says (a record keeps it under
    #: ``upstream_model``, so the answer is filed under the weights that gave it).
    upstream_model: str | None


async def generate(client: Client, model: str, ask: dict[str, Any]) -> Reply:
    """The model's answer to ``ask`` (made by :func:`generation_ask`), cut at the first stop
    string as lm-eval cuts it, whether or not the provider stopped there itself."""
    until = list(ask["until"])
    response = await client.achat(
        ask["messages"],
        model=model,
        max_tokens=ask["max_tokens"],
        temperature=ask["temperature"],
        **({"stop": until[:4]} if until else {}),
    )
    return Reply(cut(response.content or "", until), response.upstream_model)


def cut(text: str, until: list[str]) -> str:
    """``text`` up to the earliest of the ``until`` strings."""
    end = min((i for i in (text.find(stop) for stop in until if stop) if i >= 0), default=len(text))
    return text[:end]
