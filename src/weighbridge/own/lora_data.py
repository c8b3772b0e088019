"""Training examples for a LoRA fine-tune: read from JSONL, rendered and masked for the loss.

A line is a conversation, ``{"messages": [{"role": ..., "content": ...}, ...]}``, or a pair,
``{"prompt": ..., "completion": ...}`` (``reference`` is accepted for ``completion``, so a
held-out prompt set written for ``weighbridge compare`` doubles as an eval set; an optional
``system`` goes first). Only the assistant turns are learned: every other token gets the
label -100, which the loss ignores, so the model learns to answer, not to write prompts.

The text is rendered with the model's own chat template through the same sandboxed renderer
llama.cpp's provider uses at inference, so training sees exactly the prompt shape the tuned
model will be asked with. Each assistant turn is the rendered prompt before it (ending with
the assistant's turn opened), then the answer's tokens and the end-of-sequence token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from weighbridge.errors import InvalidRequestError
from weighbridge.providers import chat_template

IGNORE = -100
_ROLES = frozenset({"system", "user", "assistant"})

Messages = list[dict[str, str]]


class Tokenizer(Protocol):
    """What encoding needs of a Hugging Face tokenizer."""

    eos_token_id: int | None

    def encode(self, text: str, add_special_tokens: bool = ...) -> list[int]: ...


@dataclass(frozen=True)
class Encoded:
    """One example as token ids and labels of the same length (-100 where nothing is learned)."""

    input_ids: list[int]
    labels: list[int]

    @property
    def target_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE)


def read_examples(path: Path) -> list[Messages]:
    """The conversations in a JSONL file; a malformed line is an error naming its number."""
    try:
        lines = path.read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRequestError(f"cannot read examples from {path}: {exc}") from None
    examples = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidRequestError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        examples.append(_messages(row, f"{path}:{number}"))
    if not examples:
        raise InvalidRequestError(f"{path} holds no examples")
    return examples


def _messages(row: Any, where: str) -> Messages:
    if not isinstance(row, dict):
        raise InvalidRequestError(f"{where}: each line must be a JSON object")
    if "messages" in row:
        messages = row["messages"]
        if not isinstance(messages, list) or not messages:
            raise InvalidRequestError(f"{where}: 'messages' must be a non-empty list")
        for message in messages:
            if (
                not isinstance(message, dict)
                or message.get("role") not in _ROLES
                or not isinstance(message.get("content"), str)
            ):
                raise InvalidRequestError(
                    f"{where}: each message needs a role (system, user or assistant) and a string content"
                )
        out = [{"role": m["role"], "content": m["content"]} for m in messages]
    else:
        prompt = row.get("prompt")
        answer = row.get("completion", row.get("reference"))
        if not isinstance(prompt, str) or not isinstance(answer, str):
            raise InvalidRequestError(
                f"{where}: give 'messages', or 'prompt' with 'completion' (or 'reference'), as strings"
            )
        out = [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
        system = row.get("system")
        if isinstance(system, str):
            out.insert(0, {"role": "system", "content": system})
    if not any(m["role"] == "assistant" for m in out):
        raise InvalidRequestError(f"{where}: no assistant turn to learn from")
    return out


def with_system(messages: Messages, system: str | None) -> Messages:
    """``messages`` opened by ``system`` unless they bring their own: a catalog model's default
    system prompt is sent at inference, so training must see it too."""
    if not system or messages[0]["role"] == "system":
        return messages
    return [{"role": "system", "content": system}, *messages]


def encode(
    messages: Messages,
    tokenizer: Tokenizer,
    template: str,
    *,
    bos_token: str,
    eos_token: str,
    max_tokens: int,
    bos_id: int | None = None,
) -> Encoded:
    """Token ids and labels for one conversation, cut at ``max_tokens``.

    ``bos_id`` is put first when the model wants a beginning-of-sequence token and its
    template does not write one, as llama.cpp does at inference.
    """
    if tokenizer.eos_token_id is None:
        raise InvalidRequestError("the tokenizer has no end-of-sequence token to end an answer with")
    ids: list[int] = []
    labels: list[int] = []
    rendered = ""
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = chat_template.render(template, messages[:index], bos_token=bos_token, eos_token=eos_token)
        if not prompt.startswith(rendered):
            raise InvalidRequestError(
                "this model's chat template rewrites earlier turns, so a conversation cannot be "
                "learned turn by turn: give one example per assistant answer"
            )
        context = tokenizer.encode(prompt[len(rendered) :], add_special_tokens=False)
        if not rendered and bos_id is not None and not (bos_token and prompt.startswith(bos_token)):
            context.insert(0, bos_id)
        answer = [*tokenizer.encode(message["content"], add_special_tokens=False), tokenizer.eos_token_id]
        ids += context + answer
        labels += [IGNORE] * len(context) + answer
        rendered = prompt + message["content"] + eos_token
    return Encoded(ids[:max_tokens], labels[:max_tokens])
