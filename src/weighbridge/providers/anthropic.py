"""Anthropic's Messages API (``POST /v1/messages``).

The translation functions are pure: request -> body, body -> completion, and a small state
machine that turns the stream's named events into chunks. Anthropic differs from the OpenAI
shape in ways that matter: the system prompt is a top-level field, turns must alternate
between user and assistant, ``max_tokens`` is required, tool results travel inside a user
turn, and a stream ends with an explicit ``message_stop`` event (so a connection that closes
before it is an interrupted answer, not a finished one).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import httpx

from weighbridge.capabilities import Capabilities
from weighbridge.errors import InvalidRequestError, ProviderError
from weighbridge.providers.http import event_json, post_json, post_sse
from weighbridge.providers.tools import chosen_function, function_of, parse_arguments
from weighbridge.targets import Target
from weighbridge.types import (
    ChatRequest,
    Completion,
    FinishReason,
    Message,
    StreamChunk,
    ToolCall,
    ToolCallDelta,
    Usage,
)

API_VERSION = "2023-06-01"
#: The HTTP status each documented error type comes with, for errors that arrive as a stream
#: event (after the 200 was sent), so they are retried, or not, as the status would be.
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}
#: The beta that enables ``output_format`` (JSON-schema constrained output).
STRUCTURED_OUTPUTS_BETA = "structured-outputs-2025-11-13"
#: Used when neither the request nor the catalog entry says how long an answer may be,
#: because Anthropic refuses a request without ``max_tokens``.
FALLBACK_MAX_TOKENS = 4096

_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

_TOOL_CHOICE: dict[str, dict[str, Any]] = {
    "auto": {"type": "auto"},
    "required": {"type": "any"},
    "any": {"type": "any"},
    "none": {"type": "none"},
}


# -- request ------------------------------------------------------------------------------


def request_body(
    request: ChatRequest, upstream: str, *, stream: bool, default_max_tokens: int
) -> dict[str, Any]:
    """The Messages API body for ``request``.

    Raises InvalidRequestError for what Anthropic cannot express: a JSON mode without a
    schema, a tool call whose arguments are not a JSON object.
    """
    body: dict[str, Any] = {
        "model": upstream,
        "max_tokens": request.max_tokens or default_max_tokens,
        "messages": messages_body(request.messages),
    }
    system = request.system_text()
    if system:
        body["system"] = system
    if request.temperature is not None:
        # OpenAI's range is 0..2, Anthropic's 0..1: the top of one maps to the top of the other.
        body["temperature"] = min(request.temperature, 1.0)
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop_sequences"] = request.stop
    # ``seed`` has no Anthropic counterpart; it is dropped rather than refused, as with
    # OpenAI models that ignore it.
    if request.tools:
        body["tools"] = [tool_body(tool) for tool in request.tools]
    if request.tool_choice is not None:
        body["tool_choice"] = tool_choice_body(request.tool_choice)
    if request.response_format is not None and request.response_format.type != "text":
        if request.response_format.type == "json_object":
            raise InvalidRequestError(
                "Anthropic needs a JSON schema to constrain output: use response_format "
                "json_schema instead of json_object"
            )
        body["output_format"] = {"type": "json_schema", "schema": request.response_format.schema_()}
    if stream:
        body["stream"] = True
    return body


def messages_body(messages: list[Message]) -> list[dict[str, Any]]:
    """User and assistant turns, consecutive turns of one role merged into one.

    The Messages API requires the roles to alternate, and tool results travel as user turns,
    so an OpenAI conversation often has two user turns in a row.
    """
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role in ("system", "developer"):
            continue
        role, content = _turn(message)
        if not content:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] = _as_blocks(turns[-1]["content"]) + _as_blocks(content)
        else:
            turns.append({"role": role, "content": content})
    return turns


def _turn(message: Message) -> tuple[str, str | list[dict[str, Any]]]:
    if message.role == "tool":
        if not message.tool_call_id:
            raise InvalidRequestError("a tool message needs the tool_call_id it answers")
        result: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.tool_call_id}
        if isinstance(message.content, list):
            result["content"] = [_content_block(part) for part in message.content]
        else:
            result["content"] = message.content or ""
        return "user", [result]
    if message.role == "assistant":
        blocks = [b for b in _as_blocks(_content(message.content)) if not _empty_text(b)]
        for call in message.tool_calls or []:
            blocks.append(_tool_use_block(call))
        if not message.tool_calls and isinstance(message.content, str):
            return "assistant", message.content  # strings stay strings
        return "assistant", blocks
    return "user", _content(message.content)


def _content(content: str | list[dict[str, Any]] | None) -> str | list[dict[str, Any]]:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return [_content_block(part) for part in content]


def _content_block(part: dict[str, Any]) -> dict[str, Any]:
    """One OpenAI content part as an Anthropic block; native Anthropic blocks pass through."""
    kind = part.get("type")
    if kind == "text":
        block = {"type": "text", "text": part.get("text", "")}
        if "cache_control" in part:
            block["cache_control"] = part["cache_control"]
        return block
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url", "") if isinstance(image, dict) else str(image or "")
        return {"type": "image", "source": image_source(url)}
    if kind in ("input_audio", "file"):
        raise InvalidRequestError(f"Anthropic does not take '{kind}' content parts")
    return part


def image_source(url: str) -> dict[str, Any]:
    """A ``data:`` URL becomes an inline base64 source; anything else a URL source."""
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if not sep or encoding != "base64" or not media_type:
            raise InvalidRequestError("an image data: URL must look like data:image/png;base64,...")
        return {"type": "base64", "media_type": media_type, "data": data}
    return {"type": "url", "url": url}


def _tool_use_block(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    name = function.get("name")
    if not name or not call.get("id"):
        raise InvalidRequestError("an assistant tool call needs an id and a function name")
    return {
        "type": "tool_use",
        "id": call["id"],
        "name": name,
        "input": parse_arguments(function.get("arguments")),
    }


def _as_blocks(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return list(content)


def _empty_text(block: dict[str, Any]) -> bool:
    return block.get("type") == "text" and not block.get("text")


def tool_body(tool: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI function tool as an Anthropic tool definition."""
    function = function_of(tool, "Anthropic")
    body: dict[str, Any] = {
        "name": function["name"],
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        body["description"] = function["description"]
    return body


def tool_choice_body(choice: str | dict[str, Any]) -> dict[str, Any]:
    """OpenAI's tool_choice in Anthropic's words."""
    if isinstance(choice, str):
        if choice not in _TOOL_CHOICE:
            raise InvalidRequestError(f"unknown tool_choice '{choice}'")
        return dict(_TOOL_CHOICE[choice])
    return {"type": "tool", "name": chosen_function(choice)}


# -- response -----------------------------------------------------------------------------


def completion_from_body(body: dict[str, Any]) -> Completion:
    """A whole Messages API answer as a completion."""
    text: list[str] = []
    calls: list[ToolCall] = []
    for block in body.get("content") or []:
        if block.get("type") == "text":
            text.append(block.get("text") or "")
        elif block.get("type") == "tool_use":
            calls.append(
                ToolCall(
                    id=block.get("id", ""),
                    name=block.get("name", ""),
                    arguments=json.dumps(block.get("input") or {}),
                )
            )
    return Completion(
        content="".join(text),
        tool_calls=calls,
        finish_reason=_FINISH.get(body.get("stop_reason") or ""),
        usage=Usage(
            prompt_tokens=input_tokens(body.get("usage") or {}),
            completion_tokens=(body.get("usage") or {}).get("output_tokens") or 0,
            cached_tokens=(body.get("usage") or {}).get("cache_read_input_tokens") or 0,
        ),
        upstream_model=body.get("model"),
    )


def input_tokens(usage: dict[str, Any]) -> int:
    """Everything the prompt cost: fresh input plus what was written to and read from cache."""
    return (
        (usage.get("input_tokens") or 0)
        + (usage.get("cache_creation_input_tokens") or 0)
        + (usage.get("cache_read_input_tokens") or 0)
    )


class StreamState:
    """Turns Messages API stream events into chunks.

    Chunks are yielded only when they carry output (text or a tool call fragment) and once
    at ``message_stop``; bookkeeping events yield nothing, so a stream that breaks before
    any output can still be retried from scratch.
    """

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.finished = False
        self._model: str | None = None
        self._prompt_tokens = 0
        self._cached_tokens = 0
        self._completion_tokens = 0
        self._finish: FinishReason | None = None
        self._tool_index: dict[int, int] = {}  # content block index -> tool call ordinal

    def feed(self, kind: str, data: dict[str, Any]) -> StreamChunk | None:
        """The chunk for one event, or None; raises ProviderError for an ``error`` event."""
        if kind == "message_start":
            message = data.get("message") or {}
            self._model = message.get("model") or self._model
            usage = message.get("usage") or {}
            self._prompt_tokens = input_tokens(usage)
            self._cached_tokens = usage.get("cache_read_input_tokens") or 0
            self._completion_tokens = usage.get("output_tokens") or 0
        elif kind == "content_block_start":
            block = data.get("content_block") or {}
            if block.get("type") == "tool_use":
                ordinal = self._tool_index.setdefault(data.get("index", 0), len(self._tool_index))
                delta = ToolCallDelta(index=ordinal, id=block.get("id"), name=block.get("name"))
                return self._chunk(tool_calls=[delta])
            if block.get("type") == "text" and block.get("text"):
                return self._chunk(text=block["text"])
        elif kind == "content_block_delta":
            change = data.get("delta") or {}
            if change.get("type") == "text_delta" and change.get("text"):
                return self._chunk(text=change["text"])
            if change.get("type") == "input_json_delta" and change.get("partial_json"):
                known = self._tool_index.get(data.get("index", 0))
                if known is not None:
                    piece = ToolCallDelta(index=known, arguments=change["partial_json"])
                    return self._chunk(tool_calls=[piece])
        elif kind == "message_delta":
            self._finish = _FINISH.get((data.get("delta") or {}).get("stop_reason") or "", self._finish)
            usage = data.get("usage") or {}
            # message_delta usage is cumulative; newer API versions repeat the input counts.
            if usage.get("output_tokens") is not None:
                self._completion_tokens = usage["output_tokens"]
            if usage.get("input_tokens") is not None:
                self._prompt_tokens = input_tokens(usage)
                self._cached_tokens = usage.get("cache_read_input_tokens") or 0
        elif kind == "message_stop":
            self.finished = True
            return StreamChunk(
                finish_reason=self._finish,
                usage=Usage(
                    prompt_tokens=self._prompt_tokens,
                    completion_tokens=self._completion_tokens,
                    cached_tokens=self._cached_tokens,
                ),
                upstream_model=self._model,
            )
        elif kind == "error":
            raw = data.get("error")
            error: dict[str, Any] = raw if isinstance(raw, dict) else {}
            error_type = error.get("type")
            raise ProviderError(
                self.provider,
                str(error.get("message") or "error event in stream"),
                error_type=error_type,
                status=_ERROR_STATUS.get(error_type or ""),
            )
        # ping, content_block_stop, thinking deltas and event types added later: nothing to say.
        return None

    def _chunk(self, *, text: str = "", tool_calls: list[ToolCallDelta] | None = None) -> StreamChunk:
        return StreamChunk(text=text, tool_calls=tool_calls or [], upstream_model=self._model)


# -- provider -----------------------------------------------------------------------------


class AnthropicProvider:
    """Anthropic's Messages API over HTTP. Never retries: the client does."""

    capabilities = Capabilities(weights="remote", operations=frozenset({"chat"}))

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    def _call(self, target: Target, request: ChatRequest) -> tuple[str, dict[str, str]]:
        assert target.provider.base_url is not None
        headers = {"anthropic-version": API_VERSION, **target.provider.headers}
        if request.response_format is not None and request.response_format.type == "json_schema":
            betas = [b for b in headers.get("anthropic-beta", "").split(",") if b.strip()]
            headers["anthropic-beta"] = ",".join([*betas, STRUCTURED_OUTPUTS_BETA])
        if target.api_key:
            headers["x-api-key"] = target.api_key
        return target.provider.base_url.rstrip("/") + "/v1/messages", headers

    def _body(self, target: Target, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        default = target.entry.max_output_tokens or FALLBACK_MAX_TOKENS
        return request_body(request, target.upstream, stream=stream, default_max_tokens=default)

    async def complete(self, target: Target, request: ChatRequest) -> Completion:
        url, headers = self._call(target, request)
        body = self._body(target, request, stream=False)
        data = await post_json(
            self._http, target.provider_name, url, body, headers=headers, timeout=target.provider.timeout_s
        )
        return completion_from_body(data)

    async def stream(self, target: Target, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        url, headers = self._call(target, request)
        body = self._body(target, request, stream=True)
        state = StreamState(target.provider_name)
        events = post_sse(
            self._http, target.provider_name, url, body, headers=headers, timeout=target.provider.timeout_s
        )
        async with aclosing(events):  # message_stop ends the answer, not the connection
            async for event in events:
                data = event_json(target.provider_name, event)
                kind = event.event if event.event != "message" else str(data.get("type", ""))
                chunk = state.feed(kind, data)
                if chunk is not None:
                    yield chunk
                if state.finished:
                    return
        raise ProviderError(target.provider_name, "stream ended before message_stop")

    async def aclose(self) -> None:
        return None
