"""The OpenAI chat-completions wire format, as the gateway speaks it: pure functions.

Requests are parsed into the core :class:`ChatRequest`; fields that tools send and that change
nothing about the answer (``user``, ``metadata``, ``store``...) are accepted and ignored, while
fields that would change it and that we cannot honour (``n`` > 1) are refused, never dropped.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from weighbridge.errors import InvalidRequestError
from weighbridge.server.task import task_of
from weighbridge.types import (
    ChatRequest,
    ChatResponse,
    Message,
    ResponseFormat,
    StreamChunk,
    Usage,
    validation_message,
)


class ChatCompletionBody(BaseModel):
    """What ``POST /v1/chat/completions`` accepts."""

    model_config = ConfigDict(extra="ignore")

    model: str
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int = 1
    response_format: ResponseFormat | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    #: OpenAI's free-form tags; ``metadata.task`` names the request's task for auto routes.
    metadata: dict[str, Any] | None = None

    @property
    def include_usage(self) -> bool:
        return bool((self.stream_options or {}).get("include_usage"))


_CORE_FIELDS = tuple(ChatRequest.model_fields)


def parse_chat_body(data: object) -> tuple[ChatCompletionBody, ChatRequest]:
    """The request as sent, and as the core's request; a one-line error for anything wrong."""
    try:
        body = ChatCompletionBody.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequestError(validation_message(exc)) from None
    if body.n != 1:
        raise InvalidRequestError("n must be 1: one choice per request is supported")
    # The validated messages and response format are handed over as they are (pydantic does
    # not validate a model instance twice): only the scalar fields' core limits are checked.
    fields = {name: value for name in _CORE_FIELDS if (value := getattr(body, name, None)) is not None}
    if body.max_completion_tokens is not None and body.max_tokens is None:
        fields["max_tokens"] = body.max_completion_tokens
    if task := task_of(body.metadata):
        fields["task"] = task
    try:
        return body, ChatRequest.model_validate(fields)
    except ValidationError as exc:
        raise InvalidRequestError(validation_message(exc)) from None


def completion_json(response: ChatResponse, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": response.content, "refusal": None}
    if response.tool_calls:
        message["tool_calls"] = [call.openai() for call in response.tool_calls]
    return {
        "id": "chatcmpl-" + response.id.removeprefix("wb-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": response.finish_reason or "stop",
            }
        ],
        "usage": usage_json(response.usage),
    }


def usage_json(usage: Usage) -> dict[str, Any]:
    """OpenAI's usage object, with the prompt tokens served from a prompt cache as OpenAI
    reports its own."""
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
    }


class ChunkWriter:
    """Turns core stream chunks into ``chat.completion.chunk`` objects for one response."""

    def __init__(self, completion_id: str, model: str, *, include_usage: bool) -> None:
        self._base = {
            "id": "chatcmpl-" + completion_id.removeprefix("wb-"),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }
        self._include_usage = include_usage
        self._role_sent = False

    def chunks(self, chunk: StreamChunk) -> list[dict[str, Any]]:
        """The wire chunks for one core chunk (the role first; usage last when asked)."""
        out: list[dict[str, Any]] = []
        delta: dict[str, Any] = {}
        if not self._role_sent:
            delta["role"] = "assistant"
            self._role_sent = True
        if chunk.text:
            delta["content"] = chunk.text
        if chunk.tool_calls:
            delta["tool_calls"] = [
                {
                    "index": call.index,
                    **({"id": call.id, "type": "function"} if call.id else {}),
                    "function": {
                        **({"name": call.name} if call.name else {}),
                        "arguments": call.arguments,
                    },
                }
                for call in chunk.tool_calls
            ]
        if delta or chunk.finish_reason:
            out.append(self._choice(delta, chunk.finish_reason))
        if chunk.usage is not None and self._include_usage:
            usage = usage_json(chunk.usage)
            out.append({**self._base, "choices": [], "usage": usage})
        return out

    def _choice(self, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        return {
            **self._base,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }


def models_json(models: list[tuple[str, str]]) -> dict[str, Any]:
    """``GET /v1/models``: (id, owner) pairs."""
    return {
        "object": "list",
        "data": [{"id": mid, "object": "model", "created": 0, "owned_by": owner} for mid, owner in models],
    }
