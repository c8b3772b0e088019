"""The Anthropic provider against a loopback server replaying Anthropic's documented wire format.

Every call goes through the real client (retries, logging, key scrubbing) and real sockets.
Bodies and events are copies of the examples in Anthropic's documentation: the Messages API
reference ("Hi! My name is Claude."), the streaming guide's "Basic streaming request" and
"Streaming request with tool use" responses, its error event, the tool-use overview's
``get_weather`` answer, and the error shapes page.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.anthropic_samples import (
    BASIC_STREAM,
    KEY,
    MESSAGE,
    MODEL,
    OVERLOADED_EVENT,
    RATE_LIMITED,
    TOOL_STREAM,
    TOOL_USE_MESSAGE,
    UPSTREAM,
    WEATHER_TOOL,
    error_body,
)
from tests.support.replay import ReplayServer, assert_key_not_kept, client_for, drain, split_bytes, sse
from weighbridge.client import Client
from weighbridge.errors import InvalidRequestError, ProviderError, StreamInterruptedError
from weighbridge.providers.anthropic import (
    FALLBACK_MAX_TOKENS,
    StreamState,
    completion_from_body,
    request_body,
)
from weighbridge.types import ChatRequest, Usage

# -- fixtures -----------------------------------------------------------------------------


@pytest.fixture
def client(upstream: ReplayServer, home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    """A real client whose ``anthropic`` provider points at the replay server."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    with client_for(upstream, home, "anthropic", MODEL, UPSTREAM) as weighbridge:
        yield weighbridge


def assert_key_nowhere(client: Client, *errors: BaseException) -> None:
    """The key went out in its header and nowhere else: not in errors, not in the log."""
    assert_key_not_kept(client, KEY, *errors)


# -- whole answers ------------------------------------------------------------------------


def test_plain_answer_and_the_request_sent(client: Client, upstream: ReplayServer) -> None:
    upstream.reply_json(MESSAGE)

    response = client.chat(
        [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Hello, world"},
            {"role": "user", "content": [{"type": "text", "text": "Who are you?"}]},
        ],
        model=MODEL,
        stop="\n\nHuman:",
        temperature=1.5,
        seed=7,
    )

    assert response.content == "Hi! My name is Claude."
    assert response.finish_reason == "stop"
    assert response.usage == Usage(prompt_tokens=2095, completion_tokens=503)
    assert response.upstream_model == "claude-3-5-sonnet-20241022"
    [sent] = upstream.requests
    assert (sent.method, sent.path) == ("POST", "/v1/messages")
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["content-type"] == "application/json"
    assert "authorization" not in sent.headers and KEY not in sent.path
    assert sent.body == {
        "model": UPSTREAM,
        "max_tokens": 2048,  # the catalog entry's max_output_tokens: Anthropic requires one
        "system": "You are terse.",
        "messages": [
            {
                "role": "user",  # two user turns merged: Anthropic requires alternation
                "content": [
                    {"type": "text", "text": "Hello, world"},
                    {"type": "text", "text": "Who are you?"},
                ],
            }
        ],
        "temperature": 1.0,  # clamped to Anthropic's 0..1
        "stop_sequences": ["\n\nHuman:"],
    }  # and no seed: Anthropic has none
    assert client.store.recent(1)[0].status == "ok"
    assert_key_nowhere(client)


def test_tool_call_round_trip(client: Client, upstream: ReplayServer) -> None:
    upstream.reply_json(TOOL_USE_MESSAGE)
    upstream.reply_json(MESSAGE)
    question = {"role": "user", "content": "What is the weather like in San Francisco?"}

    first = client.chat([question], model=MODEL, tools=[WEATHER_TOOL], tool_choice="required")

    assert first.finish_reason == "tool_calls"
    [call] = first.tool_calls
    assert (call.id, call.name) == ("toolu_01A09q90qw90lq917835lq9", "get_weather")
    assert json.loads(call.arguments) == {"location": "San Francisco, CA", "unit": "celsius"}
    assert first.usage == Usage()  # the documented example leaves usage out
    sent = upstream.requests[0].body
    assert sent["tools"] == [
        {
            "name": "get_weather",
            "description": "Get the current weather in a given location",
            "input_schema": WEATHER_TOOL["function"]["parameters"],  # type: ignore[index]
        }
    ]
    assert sent["tool_choice"] == {"type": "any"}

    client.chat(
        [
            question,
            {"role": "assistant", "content": first.content, "tool_calls": [call.openai()]},
            {"role": "tool", "tool_call_id": call.id, "content": "15 degrees"},
        ],
        model=MODEL,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )

    resent = upstream.requests[1].body
    assert resent["tool_choice"] == {"type": "tool", "name": "get_weather"}
    assert resent["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": first.content},
                {
                    "type": "tool_use",
                    "id": "toolu_01A09q90qw90lq917835lq9",
                    "name": "get_weather",
                    "input": {"location": "San Francisco, CA", "unit": "celsius"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01A09q90qw90lq917835lq9",
                    "content": "15 degrees",
                }
            ],
        },
    ]


def test_json_schema_output_sends_the_beta_header(client: Client, upstream: ReplayServer) -> None:
    upstream.reply_json(MESSAGE)
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}

    client.chat(
        "Who are you?",
        model=MODEL,
        response_format={"type": "json_schema", "json_schema": {"name": "who", "schema": schema}},
    )

    [sent] = upstream.requests
    assert sent.headers["anthropic-beta"] == "structured-outputs-2025-11-13"
    assert sent.body["output_format"] == {"type": "json_schema", "schema": schema}


def test_json_object_is_refused_before_sending(client: Client, upstream: ReplayServer) -> None:
    with pytest.raises(InvalidRequestError, match="json_schema"):
        client.chat("Who are you?", model=MODEL, response_format={"type": "json_object"})
    assert upstream.requests == []


# -- errors and retries -------------------------------------------------------------------


def test_429_with_retry_after_is_waited_out_then_retried(client: Client, upstream: ReplayServer) -> None:
    upstream.reply_json(RATE_LIMITED, status=429, headers={"retry-after": "1"})
    upstream.reply_json(MESSAGE)

    response = client.chat("Hello, world", model=MODEL)

    assert response.content == "Hi! My name is Claude."
    first, second = upstream.requests
    assert second.received_at - first.received_at >= 0.95  # Retry-After: 1 was honoured
    assert first.body == second.body


def test_400_is_raised_once_with_anthropics_words(client: Client, upstream: ReplayServer) -> None:
    message = 'messages: roles must alternate between "user" and "assistant"'
    upstream.reply_json(error_body("invalid_request_error", message), status=400)

    with pytest.raises(ProviderError) as caught:
        client.chat("Hello, world", model=MODEL)

    error = caught.value
    assert not isinstance(error, StreamInterruptedError)
    assert (error.status, error.error_type) == (400, "invalid_request_error")
    assert error.provider_message == message
    assert str(error) == f"anthropic returned 400: {message}"
    assert len(upstream.requests) == 1  # never retried
    record = client.store.recent(1)[0]
    assert (record.status, record.error) == ("error", str(error))
    assert_key_nowhere(client, error)


def test_529_overloaded_is_retried(client: Client, upstream: ReplayServer) -> None:
    upstream.reply_json(error_body("overloaded_error", "Overloaded"), status=529)
    upstream.reply_json(MESSAGE)

    assert client.chat("Hello, world", model=MODEL).content == "Hi! My name is Claude."
    assert len(upstream.requests) == 2


def test_401_says_what_anthropic_said_without_the_key(client: Client, upstream: ReplayServer) -> None:
    upstream.reply_json(error_body("authentication_error", "invalid x-api-key"), status=401)

    with pytest.raises(ProviderError, match="invalid x-api-key") as caught:
        client.chat("Hello, world", model=MODEL)

    assert caught.value.status == 401
    assert len(upstream.requests) == 1
    assert_key_nowhere(client, caught.value)


# -- streams ------------------------------------------------------------------------------


def test_stream_in_awkward_pieces(client: Client, upstream: ReplayServer) -> None:
    body = sse(*BASIC_STREAM)
    first_delta = sse(BASIC_STREAM[3])
    at = body.index(first_delta)
    pieces = [
        *split_bytes(body[:at], 7),  # splits inside field names and JSON
        *split_bytes(first_delta, 1),  # one byte at a time
        *split_bytes(body[at + len(first_delta) :], 64),
    ]
    upstream.reply_sse(pieces)

    stream = client.stream("Hello", model=MODEL, max_tokens=256)
    chunks = drain(stream)

    assert [c.text for c in chunks if c.text] == ["Hello", "!"]
    final = chunks[-1]
    assert final.finish_reason == "stop"
    assert final.usage == Usage(prompt_tokens=25, completion_tokens=15)
    assert final.upstream_model == "claude-opus-4-20250514"
    assert all(c.text or c.tool_calls for c in chunks[:-1])  # nothing empty before the end
    assert stream.response is not None and stream.response.content == "Hello!"
    [sent] = upstream.requests
    assert sent.body["stream"] is True and sent.body["max_tokens"] == 256
    assert sent.headers["x-api-key"] == KEY
    record = client.store.recent(1)[0]
    assert (record.status, record.completion_tokens, record.finish_reason) == ("ok", 15, "stop")


def test_stream_tool_call(client: Client, upstream: ReplayServer) -> None:
    upstream.reply_sse(split_bytes(sse(*TOOL_STREAM), 50), delay_s=0.001)

    stream = client.stream("What is the weather like in San Francisco?", model=MODEL, tools=[WEATHER_TOOL])
    chunks = drain(stream)

    start = next(c for c in chunks if c.tool_calls)
    assert (start.tool_calls[0].id, start.tool_calls[0].name) == (
        "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
        "get_weather",
    )
    assert start.tool_calls[0].index == 0  # the first tool call, though content block 1
    response = stream.response
    assert response is not None
    assert response.content == "Okay, let's check the weather for San Francisco, CA:"
    [call] = response.tool_calls
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert response.finish_reason == "tool_calls"
    assert response.usage == Usage(prompt_tokens=472, completion_tokens=89)
    assert upstream.requests[0].body["tools"][0]["name"] == "get_weather"


@pytest.mark.parametrize("reset", [False, True], ids=["eof", "tcp-reset"])
def test_stream_cut_after_first_text_is_not_retried(
    client: Client, upstream: ReplayServer, reset: bool
) -> None:
    # message_start .. the first text delta, then the connection ends.
    upstream.reply_cut([sse(*BASIC_STREAM[:4])], reset=reset)
    upstream.reply_sse([sse(*BASIC_STREAM)])  # would be used if the client retried

    seen: list[str] = []
    with pytest.raises(StreamInterruptedError) as caught:
        for chunk in client.stream("Hello", model=MODEL):
            seen.append(chunk.text)

    assert seen == ["Hello"]
    cause = "connection closed before" if reset else "stream ended before message_stop"
    assert caught.value.provider_message.startswith("stream broke after output had started")
    assert cause in caught.value.provider_message
    assert len(upstream.requests) == 1
    assert upstream.pending == 1
    record = client.store.recent(1)[0]
    assert record.status == "incomplete"
    assert record.response == "Hello"
    assert_key_nowhere(client, caught.value)


@pytest.mark.parametrize(
    "break_off",
    [
        pytest.param(lambda s: s.reply_cut([]), id="headers-then-eof"),
        pytest.param(lambda s: s.reply_cut([sse(*BASIC_STREAM[:3])]), id="before-any-text"),
        pytest.param(lambda s: s.drop(), id="no-response"),
        pytest.param(lambda s: s.reply_sse([sse(BASIC_STREAM[0], OVERLOADED_EVENT)]), id="error-event"),
    ],
)
def test_stream_broken_before_output_is_retried(
    client: Client, upstream: ReplayServer, break_off: Callable[[ReplayServer], None]
) -> None:
    break_off(upstream)
    upstream.reply_sse([sse(*BASIC_STREAM)])

    assert client.stream("Hello", model=MODEL).text() == "Hello!"
    assert len(upstream.requests) == 2
    assert client.store.recent(1)[0].status == "ok"


def test_error_event_mid_stream_interrupts(client: Client, upstream: ReplayServer) -> None:
    upstream.reply_sse([sse(*BASIC_STREAM[:4], OVERLOADED_EVENT)])

    with pytest.raises(StreamInterruptedError, match="Overloaded") as caught:
        drain(client.stream("Hello", model=MODEL))

    assert caught.value.status == 529
    assert caught.value.error_type == "overloaded_error"
    assert len(upstream.requests) == 1


# -- the pure translation -----------------------------------------------------------------


def test_request_body_translation() -> None:
    request = ChatRequest(
        model=MODEL,
        messages=[
            {"role": "developer", "content": "Be brief."},
            {"role": "system", "content": "Answer in English."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
                ],
            },
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"id": "toolu_1", "type": "function", "function": {"name": "look", "arguments": ""}},
                    {
                        "id": "toolu_2",
                        "type": "function",
                        "function": {"name": "zoom", "arguments": '{"x": 2}'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": "a cat"},
            {"role": "tool", "tool_call_id": "toolu_2", "content": [{"type": "text", "text": "a big cat"}]},
        ],
        top_p=0.9,
        tool_choice="none",
    )

    body = request_body(request, UPSTREAM, stream=True, default_max_tokens=FALLBACK_MAX_TOKENS)

    assert body["system"] == "Be brief.\n\nAnswer in English."
    assert body["max_tokens"] == 4096
    assert body["top_p"] == 0.9 and body["stream"] is True
    assert body["tool_choice"] == {"type": "none"}
    user, assistant, results = body["messages"]
    assert user["content"][1:] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]
    assert assistant["content"] == [
        {"type": "tool_use", "id": "toolu_1", "name": "look", "input": {}},
        {"type": "tool_use", "id": "toolu_2", "name": "zoom", "input": {"x": 2}},
    ]
    assert results == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "a cat"},
            {
                "type": "tool_result",
                "tool_use_id": "toolu_2",
                "content": [{"type": "text", "text": "a big cat"}],
            },
        ],
    }


def test_unreadable_tool_arguments_are_refused() -> None:
    request = ChatRequest(
        model=MODEL,
        messages=[
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "t", "type": "function", "function": {"name": "f", "arguments": "{oops"}}
                ],
            },
        ],
    )
    with pytest.raises(InvalidRequestError, match="not valid JSON"):
        request_body(request, UPSTREAM, stream=False, default_max_tokens=1)


def test_stop_reasons_and_cached_usage() -> None:
    body = {
        **MESSAGE,
        "stop_reason": "max_tokens",
        "usage": {
            "input_tokens": 10,
            "cache_creation_input_tokens": 100,
            "cache_read_input_tokens": 1000,
            "output_tokens": 5,
        },
    }
    completion = completion_from_body(body)
    assert completion.finish_reason == "length"
    assert completion.usage == Usage(prompt_tokens=1110, completion_tokens=5, cached_tokens=1000)
    assert completion_from_body({**MESSAGE, "stop_reason": "refusal"}).finish_reason == "content_filter"


def test_stream_state_ignores_unknown_events_and_raises_error_events() -> None:
    state = StreamState("anthropic")
    assert state.feed("some_future_event", {"type": "some_future_event"}) is None
    assert state.feed("ping", {"type": "ping"}) is None
    with pytest.raises(ProviderError) as caught:
        state.feed("error", {"type": "error", "error": {"type": "api_error", "message": "boom"}})
    assert (caught.value.status, caught.value.error_type, caught.value.retryable) == (500, "api_error", True)
    with pytest.raises(ProviderError) as refused:
        state.feed("error", {"type": "error", "error": {"type": "invalid_request_error", "message": "no"}})
    assert (refused.value.status, refused.value.retryable) == (400, False)
