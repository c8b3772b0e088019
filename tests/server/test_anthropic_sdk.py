"""The official anthropic SDK, unmodified, against the gateway (in this process, its ASGI app
the SDK's transport): the embedded model for answers, a loopback server replaying Anthropic's
documented stream for a cut one, and the wire translation's pure functions on the
documentation's own payloads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from starlette.testclient import TestClient

from tests.support.anthropic_samples import TOOL_STREAM, TOOL_USE_MESSAGE
from tests.support.gateway import gateway_app
from tests.support.replay import ReplayServer, sse
from weighbridge.errors import InvalidRequestError
from weighbridge.providers.anthropic import StreamState, completion_from_body, request_body
from weighbridge.server.anthropic_wire import EventWriter, message_json, parse_messages_body
from weighbridge.streaming import Assembler
from weighbridge.types import ChatResponse, Completion, StreamChunk, ToolCall, Usage

MASTER = "wb-master-test-key-0123456789"
MODEL = "smollm2-135m"
FRANCE = [{"role": "user", "content": "What is the capital of France?"}]

#: Tool use overview: the get_weather conversation, up to the tool's result.
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Get the current weather in a given location",
    "input_schema": {
        "type": "object",
        "properties": {
            "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
            "unit": {
                "type": "string",
                "enum": ["celsius", "fahrenheit"],
                "description": "The unit of temperature, either 'celsius' or 'fahrenheit'",
            },
        },
        "required": ["location"],
    },
}
WEATHER_CONVERSATION: list[dict[str, Any]] = [
    {"role": "user", "content": "What's the weather like in San Francisco?"},
    {"role": "assistant", "content": TOOL_USE_MESSAGE["content"]},
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


def sdk_for(http: TestClient, api_key: str = "unused-without-master-key") -> anthropic.Anthropic:
    """The SDK on the in-process gateway; not closed by the tests, since closing it would close
    the shared ``http`` (the SDK holds nothing else)."""
    return anthropic.Anthropic(base_url=str(http.base_url), api_key=api_key, http_client=http, max_retries=0)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with gateway_app(tmp_path_factory.mktemp("gw")) as http:
        yield http


@pytest.fixture
def sdk(gateway: TestClient) -> anthropic.Anthropic:
    return sdk_for(gateway)


# -- the SDK against the embedded model ---------------------------------------------------


def test_message(sdk: anthropic.Anthropic) -> None:
    raw = sdk.messages.with_raw_response.create(model=MODEL, max_tokens=64, messages=FRANCE)
    message = raw.parse()
    assert message.type == "message" and message.role == "assistant"
    assert message.id.startswith("msg_")
    assert message.content[0].type == "text" and "Paris" in message.content[0].text
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert message.model == MODEL
    assert raw.headers["x-weighbridge-provider"] == "llamacpp"


def test_system_prompt_as_a_string(sdk: anthropic.Anthropic) -> None:
    message = sdk.messages.create(
        model=MODEL,
        max_tokens=64,
        system="You are a helpful assistant. Answer in one short sentence.",
        messages=FRANCE,
    )
    assert message.content[0].type == "text" and "Paris" in message.content[0].text


def test_stream_helper(sdk: anthropic.Anthropic) -> None:
    with sdk.messages.stream(model=MODEL, max_tokens=64, messages=FRANCE) as stream:
        assert "Paris" in stream.get_final_text()
        final = stream.get_final_message()
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens > 0 and final.usage.output_tokens > 0


def test_raw_stream_events_in_the_documented_order(sdk: anthropic.Anthropic, gateway: TestClient) -> None:
    events = list(sdk.messages.create(model=MODEL, max_tokens=64, messages=FRANCE, stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert kinds[1] == "content_block_start" and kinds[-3:-1] == ["content_block_stop", "message_delta"]
    assert set(kinds[2:-3]) == {"content_block_delta"}

    # On the wire: each event named as its data's type, the ping after the first block opens.
    body = {"model": MODEL, "max_tokens": 64, "messages": FRANCE, "stream": True}
    with gateway.stream("POST", "/v1/messages", json=body) as reply:
        assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
        frames = reply.read().decode().split("\n\n")
    assert frames[-1] == ""
    named = []
    for frame in frames[:-1]:
        event, data = frame.split("\n")
        assert event.startswith("event: ") and data.startswith("data: ")
        assert json.loads(data[6:])["type"] == event[7:]
        named.append(event[7:])
    assert named[:3] == ["message_start", "content_block_start", "ping"]
    assert named[-1] == "message_stop"


def test_max_tokens_reached(sdk: anthropic.Anthropic) -> None:
    message = sdk.messages.create(model=MODEL, max_tokens=3, messages=FRANCE)
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 3
    with sdk.messages.stream(model=MODEL, max_tokens=3, messages=FRANCE) as stream:
        assert stream.get_final_message().stop_reason == "max_tokens"


def test_client_mistakes_raise_the_sdks_own_errors(sdk: anthropic.Anthropic, gateway: TestClient) -> None:
    with pytest.raises(anthropic.NotFoundError) as missing:
        sdk.messages.create(model="no-such-model", max_tokens=8, messages=FRANCE)
    assert "no-such-model" in missing.value.message
    with pytest.raises(anthropic.BadRequestError) as bad:
        sdk.messages.create(model=MODEL, max_tokens=8, messages=FRANCE, extra_body={"temperature": 9})
    assert "temperature" in bad.value.message
    with (  # refused before the stream starts: a real status
        pytest.raises(anthropic.NotFoundError),
        sdk.messages.stream(model="no-such-model", max_tokens=8, messages=FRANCE),
    ):
        pass

    reply = gateway.post("/v1/messages", json={"model": MODEL, "messages": FRANCE})
    assert reply.status_code == 400
    assert reply.json() == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"},
    }


def test_master_key_is_required_when_set(home: Path) -> None:
    with gateway_app(home, master_key=MASTER) as http:
        wrong = sdk_for(http, api_key="not-the-key")
        with pytest.raises(anthropic.AuthenticationError) as refused:
            wrong.messages.create(model=MODEL, max_tokens=8, messages=FRANCE)
        assert MASTER not in str(refused.value.body)
        right = sdk_for(http, api_key=MASTER)
        message = right.messages.create(model=MODEL, max_tokens=64, messages=FRANCE)
        assert message.content[0].type == "text" and "Paris" in message.content[0].text


# -- an Anthropic upstream behind the gateway ---------------------------------------------


@pytest.fixture
def fronted(home: Path, upstream: ReplayServer) -> Iterator[tuple[ReplayServer, TestClient]]:
    """The shared replay upstream, speaking Anthropic, with a gateway in front of it."""
    config = f"""
[providers.replayed]
type = "anthropic"
base_url = "{upstream.url}"

[models.claude-replay]
provider = "replayed"
model = "claude-sonnet-4-5-20250929"
"""
    with gateway_app(home, config=config) as http:
        yield upstream, http


def test_tool_conversation_reaches_an_anthropic_upstream_as_sent(
    fronted: tuple[ReplayServer, TestClient],
) -> None:
    replay, http = fronted
    replay.reply_sse([sse(*TOOL_STREAM)])
    sdk = sdk_for(http, api_key="x")
    with sdk.messages.stream(
        model="claude-replay",
        max_tokens=1024,
        tools=[WEATHER_TOOL],
        messages=WEATHER_CONVERSATION,
    ) as stream:
        final = stream.get_final_message()
    sent = replay.requests[0].body
    assert sent["messages"] == WEATHER_CONVERSATION and sent["tools"] == [WEATHER_TOOL]
    assert final.stop_reason == "tool_use"
    assert [block.type for block in final.content] == ["text", "tool_use"]
    call = final.content[1]
    assert call.type == "tool_use" and call.id == "toolu_01T1x1fJ34qAmk2tNTrN7Up6"
    assert call.input == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert final.usage.input_tokens == 472 and final.usage.output_tokens == 89


def test_cut_mid_stream_ends_with_an_error_event_and_no_message_stop(
    fronted: tuple[ReplayServer, TestClient],
) -> None:
    replay, http = fronted
    replay.reply_cut([sse(*TOOL_STREAM[:5])])  # "Okay", ",": then the connection closes
    body = {"model": "claude-replay", "max_tokens": 64, "messages": FRANCE, "stream": True}
    with http.stream("POST", "/v1/messages", json=body) as reply:
        assert reply.status_code == 200
        frames = [f for f in reply.read().decode().split("\n\n") if f]
    assert frames[-1].startswith("event: error\ndata: ")
    error = json.loads(frames[-1].split("data: ", 1)[1])
    assert error["type"] == "error" and error["error"]["type"] == "api_error"
    assert not any(f.startswith("event: message_stop") for f in frames)

    replay.reply_cut([sse(*TOOL_STREAM[:5])])
    sdk = sdk_for(http, api_key="x")
    with pytest.raises(anthropic.APIStatusError):
        for _ in sdk.messages.create(model="claude-replay", max_tokens=64, messages=FRANCE, stream=True):
            pass


# -- the pure functions on documented payloads --------------------------------------------


def test_tool_conversation_round_trip() -> None:
    body, chat = parse_messages_body(
        {
            "model": "claude-replay",
            "max_tokens": 1024,
            "system": [{"type": "text", "text": "You are a weather bot."}],
            "tools": [WEATHER_TOOL],
            "tool_choice": {"type": "tool", "name": "get_weather"},
            "messages": WEATHER_CONVERSATION,
            "metadata": {"user_id": "u-1"},
            "top_k": 5,
            "stop_sequences": ["\n\nHuman:"],
            "some_future_field": True,
        }
    )
    assert not body.stream
    assert [m.role for m in chat.messages] == ["system", "user", "assistant", "tool"]
    assert chat.messages[0].content == "You are a weather bot."
    assistant = chat.messages[2]
    assert assistant.content == TOOL_USE_MESSAGE["content"][0]["text"]
    assert assistant.tool_calls == [
        {
            "id": "toolu_01A09q90qw90lq917835lq9",
            "type": "function",
            "function": {
                "name": "get_weather",
                "arguments": json.dumps({"location": "San Francisco, CA", "unit": "celsius"}),
            },
        }
    ]
    assert chat.messages[3].tool_call_id == "toolu_01A09q90qw90lq917835lq9"
    assert chat.messages[3].content == "15 degrees"
    assert chat.tools == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": WEATHER_TOOL["input_schema"],
                "description": WEATHER_TOOL["description"],
            },
        }
    ]
    assert chat.tool_choice == {"type": "function", "function": {"name": "get_weather"}}
    assert chat.max_tokens == 1024 and chat.stop == ["\n\nHuman:"]

    # The provider's outbound translation is the mirror image: it gives the request back.
    again = request_body(chat, "claude-replay", stream=False, default_max_tokens=1)
    assert again["messages"] == WEATHER_CONVERSATION
    assert again["tools"] == [WEATHER_TOOL]
    assert again["tool_choice"] == {"type": "tool", "name": "get_weather"}
    assert again["system"] == "You are a weather bot." and again["max_tokens"] == 1024


def test_blocks_become_openai_parts() -> None:
    _, chat = parse_messages_body(
        {
            "model": "m",
            "max_tokens": 8,
            "tool_choice": {"type": "any"},
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"},
                        },
                        {
                            "type": "text",
                            "text": "Describe this image.",
                            "cache_control": {"type": "ephemeral"},
                        },
                    ],
                },
                {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm", "signature": "s"}]},
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_1",
                            "content": [{"type": "text", "text": "ok"}],
                        },
                        {"type": "text", "text": "and then?"},
                    ],
                },
            ],
        }
    )
    assert chat.tool_choice == "required"
    assert chat.messages[0].content == [
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
        {"type": "text", "text": "Describe this image."},
    ]
    assert chat.messages[1].role == "assistant" and chat.messages[1].content is None
    assert [(m.role, m.content) for m in chat.messages[2:]] == [("tool", "ok"), ("user", "and then?")]


def test_structured_output_becomes_a_json_schema_response_format() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    for field in (
        {"output_config": {"format": {"type": "json_schema", "schema": schema}}},
        {"output_format": {"type": "json_schema", "schema": schema}},
    ):
        _, chat = parse_messages_body({"model": "m", "max_tokens": 8, "messages": FRANCE, **field})
        assert chat.response_format is not None and chat.response_format.schema_() == schema


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": "m", "messages": FRANCE}, "max_tokens: Field required"),
        ({"model": "m", "max_tokens": 8, "messages": []}, "messages: List should have at least 1 item"),
        ({"model": "m", "max_tokens": 8, "messages": FRANCE, "temperature": 1.5}, "temperature"),
        (
            {"model": "m", "max_tokens": 8, "messages": [{"role": "system", "content": "x"}]},
            "messages.0.role",
        ),
        (
            {
                "model": "m",
                "max_tokens": 8,
                "messages": [{"role": "user", "content": [{"type": "document"}]}],
            },
            "does not match any of the expected tags",
        ),
        (
            {
                "model": "m",
                "max_tokens": 8,
                "messages": FRANCE,
                "tools": [{"type": "web_search_20250305", "name": "web_search"}],
            },
            "tools.0",
        ),
        (
            {"model": "m", "max_tokens": 8, "messages": FRANCE, "tool_choice": {"type": "tool"}},
            "needs the name",
        ),
        (
            {
                "model": "m",
                "max_tokens": 8,
                "messages": [
                    {"role": "user", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]}
                ],
            },
            "messages.0.content: a user turn cannot carry a 'tool_use' block",
        ),
    ],
)
def test_refusals_are_one_line(body: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_messages_body(body)
    assert message in caught.value.message


def answer(**fields: Any) -> ChatResponse:
    return ChatResponse(id="wb-01Aq9w938a90dw8q", model="m", provider="p", latency_s=0.1, **fields)


def test_whole_answer_with_a_tool_call() -> None:
    documented = {**TOOL_USE_MESSAGE, "stop_sequence": None, "type": "message", "usage": {}}
    response = answer(
        content=documented["content"][0]["text"],
        tool_calls=[
            ToolCall(
                id="toolu_01A09q90qw90lq917835lq9",
                name="get_weather",
                arguments='{"location": "San Francisco, CA", "unit": "celsius"}',
            )
        ],
        finish_reason="tool_calls",
        usage=Usage(prompt_tokens=472, completion_tokens=89, cached_tokens=400),
    )
    body = message_json(response, "claude-3-7-sonnet-20250219")
    usage = {
        "input_tokens": 72,
        "output_tokens": 89,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 400,
    }
    assert body == {**documented, "usage": usage}  # fresh input apart from what the cache held
    anthropic.types.Message.model_validate(body)  # the SDK's own type takes it
    back = completion_from_body(body)
    assert back.content == response.content and back.tool_calls == response.tool_calls
    assert back.finish_reason == "tool_calls" and back.usage == response.usage


def test_whole_answer_stop_reasons() -> None:
    reasons = {None: "end_turn", "stop": "end_turn", "length": "max_tokens", "content_filter": "refusal"}
    for finish, expected in reasons.items():
        assert message_json(answer(finish_reason=finish), "m")["stop_reason"] == expected
    assert message_json(answer(), "m")["content"] == [{"type": "text", "text": ""}]


def test_stream_events_mirror_the_documented_tool_stream() -> None:
    """Anthropic's stream -> core chunks (the provider) -> Anthropic's stream (the writer)."""
    documented = [json.loads(e.split("data: ", 1)[1]) for e in TOOL_STREAM]
    state = StreamState("anthropic")
    chunks = [c for c in (state.feed(e["type"], e) for e in documented) if c is not None]
    writer = EventWriter("wb-014p7gG3wDgGV9EUtLvnow3U", "claude-3-haiku-20240307")
    events = [e for c in chunks[:-1] for e in writer.events(c)]
    events += writer.events(chunks[-1]) + writer.close()

    def shape(event: dict[str, Any]) -> object:
        return (event["type"], event.get("index"), event.get("delta"), event.get("content_block"))

    expected = [e for e in documented if e.get("delta", {}).get("partial_json") != ""]  # empty: no news
    assert [shape(e) for e in events[1:]] == [shape(e) for e in expected[1:]]
    start = events[0]["message"]
    assert start["id"] == "msg_014p7gG3wDgGV9EUtLvnow3U" and start["content"] == []
    assert events[-2]["usage"] == {
        "input_tokens": 472,
        "output_tokens": 89,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }

    # And the provider reads the writer's stream back into the same answer.
    again = StreamState("gateway")
    echoed = [c for c in (again.feed(e["type"], e) for e in events) if c is not None]
    assert again.finished
    assert assembled(echoed).model_dump(exclude={"upstream_model"}) == assembled(chunks).model_dump(
        exclude={"upstream_model"}
    )


def assembled(chunks: list[StreamChunk]) -> Completion:
    assembler = Assembler()
    for chunk in chunks:
        assembler.add(chunk)
    return assembler.completion()


def test_stream_of_an_empty_answer_still_has_a_text_block() -> None:
    writer = EventWriter("wb-x", "m")
    events = writer.events(StreamChunk(finish_reason="stop", usage=Usage(prompt_tokens=4))) + writer.close()
    assert [e["type"] for e in events] == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[0]["message"]["usage"] == {
        "input_tokens": 4,
        "output_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
