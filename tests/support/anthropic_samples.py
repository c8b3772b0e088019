"""Anthropic's documented Messages bodies, stream events and error shapes (copies of the
examples in Anthropic's documentation), as a replayed upstream sends them."""

from __future__ import annotations

import json

KEY = "sk-ant-api03-replay-test-key-0123456789abcdef"
MODEL = "claude-replay"
UPSTREAM = "claude-sonnet-4-5-20250929"

# -- documented payloads ------------------------------------------------------------------

#: Messages API reference, "Response" example.
MESSAGE = {
    "content": [{"text": "Hi! My name is Claude.", "type": "text"}],
    "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
    "model": "claude-3-5-sonnet-20241022",
    "role": "assistant",
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "type": "message",
    "usage": {"input_tokens": 2095, "output_tokens": 503},
}

#: Tool use overview: Claude asks for get_weather (the page abridges away ``usage``).
TOOL_USE_MESSAGE = {
    "id": "msg_01Aq9w938a90dw8q",
    "model": "claude-3-7-sonnet-20250219",
    "stop_reason": "tool_use",
    "role": "assistant",
    "content": [
        {
            "type": "text",
            "text": "<thinking>I need to call the get_weather function, and the user wants SF, "
            "which is likely San Francisco, CA.</thinking>",
        },
        {
            "type": "tool_use",
            "id": "toolu_01A09q90qw90lq917835lq9",
            "name": "get_weather",
            "input": {"location": "San Francisco, CA", "unit": "celsius"},
        },
    ],
}

#: Streaming guide, "Basic streaming request" response.
BASIC_STREAM = [
    'event: message_start\ndata: {"type": "message_start", "message": {"id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", "type": "message", "role": "assistant", "content": [], "model": "claude-opus-4-20250514", "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 25, "output_tokens": 1}}}',
    'event: content_block_start\ndata: {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}',
    'event: ping\ndata: {"type": "ping"}',
    'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}',
    'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "!"}}',
    'event: content_block_stop\ndata: {"type": "content_block_stop", "index": 0}',
    'event: message_delta\ndata: {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence":null}, "usage": {"output_tokens": 15}}',
    'event: message_stop\ndata: {"type": "message_stop"}',
]

#: Streaming guide, "Streaming request with tool use" response.
TOOL_STREAM = [
    'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_014p7gG3wDgGV9EUtLvnow3U","type":"message","role":"assistant","model":"claude-3-haiku-20240307","stop_sequence":null,"usage":{"input_tokens":472,"output_tokens":2},"content":[],"stop_reason":null}}',
    'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
    'event: ping\ndata: {"type": "ping"}',
    *(
        'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":'
        + json.dumps(piece)
        + "}}"
        for piece in [
            "Okay",
            ",",
            " let",
            "'s",
            " check",
            " the",
            " weather",
            " for",
            " San",
            " Francisco",
            ",",
            " CA",
            ":",
        ]
    ),
    'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}',
    'event: content_block_start\ndata: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}}',
    *(
        'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":'
        + json.dumps(piece)
        + "}}"
        for piece in [
            "",
            '{"location":',
            ' "San',
            " Francisc",
            "o,",
            ' CA"',
            ", ",
            '"unit": "fah',
            'renheit"}',
        ]
    ),
    'event: content_block_stop\ndata: {"type":"content_block_stop","index":1}',
    'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}',
    'event: message_stop\ndata: {"type":"message_stop"}',
]

#: Streaming guide, "Error events".
OVERLOADED_EVENT = (
    'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}'
)


def error_body(kind: str, message: str) -> dict[str, object]:
    """The documented error shape: ``{"type": "error", "error": {...}, "request_id": ...}``."""
    return {
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy",
    }


RATE_LIMITED = error_body(
    "rate_limit_error",
    "Number of request tokens has exceeded your per-minute rate limit "
    "(https://docs.anthropic.com/en/api/rate-limits); see the response headers for current "
    "usage. Please reduce the prompt length or the maximum tokens requested, or try again later.",
)
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {
                    "type": "string",
                    "description": "The city and state, e.g. San Francisco, CA",
                }
            },
            "required": ["location"],
        },
    },
}
