"""The Anthropic Messages wire format, as the gateway speaks it: pure functions.

The mirror image of :mod:`weighbridge.providers.anthropic`: a Messages API request becomes the
core :class:`ChatRequest` (the system prompt a leading system turn, ``tool_use`` blocks an
assistant's ``tool_calls``, each ``tool_result`` block a ``tool`` turn), and the core's answer
becomes a Messages API answer or its stream of named events.

Fields that change nothing about the answer (``metadata``, ``thinking`` blocks of earlier
turns) are accepted and ignored, and so is ``top_k``, which the core cannot express; content
the core cannot carry (documents, server tools) is refused, never dropped.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from weighbridge.errors import InvalidRequestError, ProviderError
from weighbridge.providers.tools import parse_arguments
from weighbridge.server.task import task_of
from weighbridge.types import (
    ChatRequest,
    ChatResponse,
    FinishReason,
    Message,
    StreamChunk,
    Usage,
    validation_message,
)

#: The core's finish reasons in Anthropic's words (``error`` never reaches a finished answer).
_STOP_REASONS: dict[FinishReason, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}
#: Anthropic's tool_choice types in OpenAI's words (``tool`` names a function instead).
_TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}


# -- request ------------------------------------------------------------------------------


class _Block(BaseModel):
    model_config = ConfigDict(extra="ignore")  # cache_control, citations...


class TextBlock(_Block):
    type: Literal["text"]
    text: str


class Base64Source(_Block):
    type: Literal["base64"]
    media_type: str
    data: str


class URLSource(_Block):
    type: Literal["url"]
    url: str


class ImageBlock(_Block):
    type: Literal["image"]
    source: Annotated[Base64Source | URLSource, Field(discriminator="type")]


class ToolUseBlock(_Block):
    type: Literal["tool_use"]
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    input: dict[str, Any]


class ToolResultBlock(_Block):
    type: Literal["tool_result"]
    tool_use_id: str = Field(min_length=1)
    content: list[Annotated[TextBlock | ImageBlock, Field(discriminator="type")]] = Field(
        default_factory=list
    )

    @field_validator("content", mode="before")
    @classmethod
    def _text_as_block(cls, value: object) -> object:
        return _blocks_from_text(value)


class ThinkingBlock(_Block):
    """An earlier turn's reasoning: sent back by clients, meaningless to another model."""

    type: Literal["thinking", "redacted_thinking"]


Block = Annotated[
    TextBlock | ImageBlock | ToolUseBlock | ToolResultBlock | ThinkingBlock, Field(discriminator="type")
]


class InputMessage(BaseModel):
    """One turn; string content is read as a single text block."""

    model_config = ConfigDict(extra="ignore")

    role: Literal["user", "assistant"]
    content: list[Block]

    @field_validator("content", mode="before")
    @classmethod
    def _text_as_block(cls, value: object) -> object:
        return _blocks_from_text(value)


class ToolDefinition(BaseModel):
    """A client tool; server tools (``web_search_...``) have a type and no input_schema."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["custom"] | None = None
    name: str = Field(min_length=1)
    description: str | None = None
    input_schema: dict[str, Any]


class ToolChoice(BaseModel):
    model_config = ConfigDict(extra="ignore")  # disable_parallel_tool_use

    type: Literal["auto", "any", "none", "tool"]
    name: str | None = None


class OutputFormat(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["json_schema"]
    schema_: dict[str, Any] = Field(alias="schema")


class OutputConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")  # effort

    format: OutputFormat | None = None


class MessagesBody(BaseModel):
    """What ``POST /v1/messages`` accepts."""

    model_config = ConfigDict(extra="ignore")

    model: str
    messages: list[InputMessage] = Field(min_length=1)
    max_tokens: int = Field(ge=1)
    system: list[TextBlock] | None = None
    stream: bool = False
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = None
    top_k: int | None = None
    stop_sequences: list[str] | None = None
    tools: list[ToolDefinition] | None = None
    tool_choice: ToolChoice | None = None
    output_config: OutputConfig | None = None
    output_format: OutputFormat | None = None  # the structured-outputs beta's spelling
    metadata: dict[str, Any] | None = None

    @field_validator("system", mode="before")
    @classmethod
    def _text_as_block(cls, value: object) -> object:
        return _blocks_from_text(value)


def _blocks_from_text(value: object) -> object:
    return [{"type": "text", "text": value}] if isinstance(value, str) else value


def parse_messages_body(data: object) -> tuple[MessagesBody, ChatRequest]:
    """The request as sent, and as the core's request; a one-line error for anything wrong."""
    try:
        body = MessagesBody.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequestError(validation_message(exc)) from None
    fields: dict[str, Any] = {
        "model": body.model,
        "messages": core_messages(body),
        "max_tokens": body.max_tokens,
    }
    if body.temperature is not None:
        fields["temperature"] = body.temperature
    if body.top_p is not None:
        fields["top_p"] = body.top_p
    if body.stop_sequences:
        fields["stop"] = body.stop_sequences
    if body.tools:
        fields["tools"] = [tool_json(tool) for tool in body.tools]
    if body.tool_choice is not None:
        fields["tool_choice"] = tool_choice_json(body.tool_choice)
    if task := task_of(body.metadata):
        fields["task"] = task
    output = body.output_config.format if body.output_config else body.output_format
    if output is not None:
        schema = {"name": "output", "schema": output.schema_}
        fields["response_format"] = {"type": "json_schema", "json_schema": schema}
    try:
        return body, ChatRequest.model_validate(fields)
    except ValidationError as exc:
        raise InvalidRequestError(validation_message(exc)) from None


def core_messages(body: MessagesBody) -> list[Message]:
    """The system prompt as a leading system turn, then each turn in OpenAI's words."""
    out: list[Message] = []
    if body.system:
        out.append(Message(role="system", content=_parts(body.system)))
    for i, turn in enumerate(body.messages):
        try:
            out.extend(_assistant(turn.content) if turn.role == "assistant" else _user(turn.content))
        except InvalidRequestError as exc:
            raise InvalidRequestError(f"messages.{i}.content: {exc.message}") from None
    return out


def _user(blocks: list[Block]) -> list[Message]:
    """Tool results become ``tool`` turns, in place; the blocks between them user turns."""
    out: list[Message] = []
    pending: list[TextBlock | ImageBlock] = []
    for block in blocks:
        if isinstance(block, ToolResultBlock):
            if pending:
                out.append(Message(role="user", content=_parts(pending)))
                pending = []
            out.append(Message(role="tool", tool_call_id=block.tool_use_id, content=_parts(block.content)))
        elif isinstance(block, TextBlock | ImageBlock):
            pending.append(block)
        else:
            raise InvalidRequestError(f"a user turn cannot carry a '{block.type}' block")
    if pending or not out:
        out.append(Message(role="user", content=_parts(pending)))
    return out


def _assistant(blocks: list[Block]) -> list[Message]:
    text: list[TextBlock | ImageBlock] = []
    calls: list[dict[str, Any]] = []
    for block in blocks:
        if isinstance(block, TextBlock):
            text.append(block)
        elif isinstance(block, ToolUseBlock):
            calls.append(
                {
                    "id": block.id,
                    "type": "function",
                    "function": {"name": block.name, "arguments": json.dumps(block.input)},
                }
            )
        elif not isinstance(block, ThinkingBlock):
            raise InvalidRequestError(f"an assistant turn cannot carry a '{block.type}' block")
    return [Message(role="assistant", content=_parts(text) if text else None, tool_calls=calls or None)]


def _parts(blocks: list[TextBlock] | list[TextBlock | ImageBlock]) -> str | list[dict[str, Any]]:
    """One text block stays a string; anything else becomes OpenAI content parts."""
    if not blocks:
        return ""
    if len(blocks) == 1 and isinstance(blocks[0], TextBlock):
        return blocks[0].text
    return [_part(block) for block in blocks]


def _part(block: TextBlock | ImageBlock) -> dict[str, Any]:
    if isinstance(block, TextBlock):
        return {"type": "text", "text": block.text}
    source = block.source
    url = f"data:{source.media_type};base64,{source.data}" if isinstance(source, Base64Source) else source.url
    return {"type": "image_url", "image_url": {"url": url}}


def tool_json(tool: ToolDefinition) -> dict[str, Any]:
    """An Anthropic tool definition as an OpenAI function tool."""
    function: dict[str, Any] = {"name": tool.name, "parameters": tool.input_schema}
    if tool.description:
        function["description"] = tool.description
    return {"type": "function", "function": function}


def tool_choice_json(choice: ToolChoice) -> str | dict[str, Any]:
    """Anthropic's tool_choice in OpenAI's words."""
    if choice.type != "tool":
        return _TOOL_CHOICES[choice.type]
    if not choice.name:
        raise InvalidRequestError('tool_choice of type "tool" needs the name of the tool')
    return {"type": "function", "function": {"name": choice.name}}


# -- response -----------------------------------------------------------------------------


def message_json(response: ChatResponse, model: str) -> dict[str, Any]:
    """A whole answer as a Messages API ``message``."""
    content: list[dict[str, Any]] = []
    if response.content or not response.tool_calls:
        content.append({"type": "text", "text": response.content})
    for call in response.tool_calls:
        try:
            arguments = parse_arguments(call.arguments)
        except InvalidRequestError as exc:  # the model's mistake, not the caller's
            raise ProviderError(response.provider, f"tool call '{call.name}': {exc.message}") from None
        content.append({"type": "tool_use", "id": call.id, "name": call.name, "input": arguments})
    return {
        "id": message_id(response.id),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(response.finish_reason),
        "stop_sequence": None,
        "usage": usage_json(response.usage),
    }


def message_id(call_id: str) -> str:
    return "msg_" + call_id.removeprefix("wb-")


def stop_reason(finish: FinishReason | None) -> str:
    return _STOP_REASONS.get(finish or "stop", "end_turn")


def usage_json(usage: Usage) -> dict[str, int]:
    """Anthropic's usage object: ``input_tokens`` counts only what was computed afresh, the
    tokens read from a prompt cache are ``cache_read_input_tokens`` beside it."""
    return {
        "input_tokens": usage.prompt_tokens - usage.cached_tokens,
        "output_tokens": usage.completion_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": usage.cached_tokens,
    }


class EventWriter:
    """Turns core stream chunks into Messages API stream events for one response.

    Each event is its ``data`` object; its ``type`` is also the SSE event name (see
    :func:`sse`). Content blocks open as output of their kind arrives: text in a text block,
    each tool call in a ``tool_use`` block of its own; the answer always has at least one.
    """

    def __init__(self, call_id: str, model: str) -> None:
        self._id = message_id(call_id)
        self._model = model
        self._started = False
        self._pinged = False
        self._blocks = 0  # content blocks opened so far
        self._open: tuple[str, int] | None = None  # ("text", -1) or ("tool", call index)
        self._tool_blocks: dict[int, int] = {}  # core tool call index -> content block index
        self._finish: FinishReason | None = None
        self._usage: Usage | None = None

    def events(self, chunk: StreamChunk) -> list[dict[str, Any]]:
        """The events for one core chunk (``message_start`` before the first)."""
        if chunk.usage is not None:
            self._usage = chunk.usage
        self._finish = chunk.finish_reason or self._finish
        out = self._start()
        if chunk.text:
            if self._open != ("text", -1):
                out += self._open_block(("text", -1), {"type": "text", "text": ""})
            out.append(self._delta(self._blocks - 1, {"type": "text_delta", "text": chunk.text}))
        for call in chunk.tool_calls:
            if call.index not in self._tool_blocks:
                block = {"type": "tool_use", "id": call.id or "", "name": call.name or "", "input": {}}
                out += self._open_block(("tool", call.index), block)
                self._tool_blocks[call.index] = self._blocks - 1
            if call.arguments:  # to the call's own block, even if fragments of calls interleave
                delta = {"type": "input_json_delta", "partial_json": call.arguments}
                out.append(self._delta(self._tool_blocks[call.index], delta))
        return out

    def close(self) -> list[dict[str, Any]]:
        """The events that end a finished answer."""
        out = self._start()
        if not self._blocks:
            out += self._open_block(("text", -1), {"type": "text", "text": ""})
        out += self._close_block()
        usage = usage_json(self._usage) if self._usage is not None else {"output_tokens": 0}
        out.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason(self._finish), "stop_sequence": None},
                "usage": usage,
            }
        )
        out.append({"type": "message_stop"})
        return out

    def _start(self) -> list[dict[str, Any]]:
        if self._started:
            return []
        self._started = True
        message: dict[str, Any] = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage_json(
                self._usage.model_copy(update={"completion_tokens": 0}) if self._usage else Usage()
            ),
        }
        return [{"type": "message_start", "message": message}]

    def _open_block(self, key: tuple[str, int], block: dict[str, Any]) -> list[dict[str, Any]]:
        out = self._close_block()
        out.append({"type": "content_block_start", "index": self._blocks, "content_block": block})
        self._blocks += 1
        self._open = key
        if not self._pinged:
            self._pinged = True
            out.append({"type": "ping"})
        return out

    def _close_block(self) -> list[dict[str, Any]]:
        if self._open is None:
            return []
        self._open = None
        return [{"type": "content_block_stop", "index": self._blocks - 1}]

    @staticmethod
    def _delta(index: int, delta: dict[str, Any]) -> dict[str, Any]:
        return {"type": "content_block_delta", "index": index, "delta": delta}


def sse(event: dict[str, Any]) -> bytes:
    """One event framed for the wire, named by its ``type``."""
    data = json.dumps(event, separators=(",", ":"))
    return f"event: {event['type']}\ndata: {data}\n\n".encode()
