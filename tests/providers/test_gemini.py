"""The Gemini provider against a loopback server replaying Gemini's documented wire format.

Every call goes through the real client (retries, logging, key scrubbing) and real sockets.
Answers are copies of Google's published examples: the Gemini cookbook's REST quickstarts
(system instructions "Meow", function calling ``find_theaters``, and the streaming quickstart,
whose older model put ``finishReason`` on every chunk), with the ``usageMetadata`` and
``modelVersion`` fields of the GenerateContentResponse reference, and the error bodies Google
documents (``{"error": {"code", "message", "status"}}``). Streams end each event with two
CRLF pairs, as Google's upstream does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.replay import ReplayServer, assert_key_not_kept, client_for, drain, split_bytes, sse
from weighbridge.client import Client
from weighbridge.errors import InvalidRequestError, ProviderError, StreamInterruptedError
from weighbridge.providers.gemini import StreamState, completion_from_body, request_body
from weighbridge.types import ChatRequest, Usage

KEY = "AIzaSyReplayTestKey-0123456789abcdefghij"
MODEL = "gemini-replay"
UPSTREAM = "gemini-2.5-flash"
GENERATE = f"/v1beta/models/{UPSTREAM}:generateContent"
STREAM = f"/v1beta/models/{UPSTREAM}:streamGenerateContent?alt=sse"

SAFETY_RATINGS = [
    {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "NEGLIGIBLE"},
]

#: Cookbook, System_instructions_REST: the answer, with the reference's usage fields.
MEOW = {
    "candidates": [
        {
            "content": {"parts": [{"text": "Meow 😺 \n"}], "role": "model"},
            "finishReason": "STOP",
            "index": 0,
            "safetyRatings": SAFETY_RATINGS,
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 12,
        "candidatesTokenCount": 4,
        "totalTokenCount": 46,
        "thoughtsTokenCount": 30,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 12}],
    },
    "modelVersion": "gemini-2.5-flash",
    "responseId": "b0MraIMFoqnf-Q-D66G4BQ",
}

#: Cookbook, Function_calling_REST: the single-turn answer.
FIND_THEATERS = {
    "candidates": [
        {
            "content": {
                "parts": [
                    {
                        "functionCall": {
                            "name": "find_theaters",
                            "args": {"movie": "Barbie", "location": "Mountain View, CA"},
                        }
                    }
                ],
                "role": "model",
            },
            "finishReason": "STOP",
            "index": 0,
            "safetyRatings": SAFETY_RATINGS,
        }
    ],
    "promptFeedback": {"safetyRatings": SAFETY_RATINGS},
}

FIND_THEATERS_TOOL = {
    "type": "function",
    "function": {
        "name": "find_theaters",
        "description": "find theaters based on location and optionally movie title which are is "
        "currently playing in theaters",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {
                    "type": "string",
                    "description": "The city and state, e.g. San Francisco, CA or a zip code e.g. 95616",
                },
                "movie": {"type": "string", "description": "Any movie title"},
            },
            "required": ["location"],
        },
    },
}

#: Cookbook, Streaming_REST: the first two and the last chunk of its answer. That model put
#: finishReason on every chunk, so stopping at the first one would lose the rest.
OLD_STREAM = [
    "data: "
    + json.dumps(
        {
            "candidates": [
                {
                    "content": {"parts": [{"text": text}], "role": "model"},
                    "finishReason": "STOP",
                    "index": 0,
                    "safetyRatings": SAFETY_RATINGS,
                }
            ]
        }
    )
    for text in [
        "In the quaint, sunlit cottage nestled amidst a lush meadow, resided two feline",
        " companions named Mittens and Whiskers.",
        " other and for adventure stronger than ever.",
    ]
]


def chunk(parts: list[dict[str, object]], *, finish: str | None = None, usage: dict[str, int]) -> str:
    """A current-model stream chunk: usage on every chunk, finishReason only on the last."""
    candidate: dict[str, object] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    body = {"candidates": [candidate], "usageMetadata": usage, "modelVersion": "gemini-2.5-flash"}
    return "data: " + json.dumps(body, ensure_ascii=False)


PROMPT_USAGE = {"promptTokenCount": 12, "totalTokenCount": 12}
MEOW_STREAM = [
    chunk([{"text": "Meow"}], usage=PROMPT_USAGE),
    chunk([{"text": " 😺"}], usage=PROMPT_USAGE),
    chunk(
        [{"text": " \n"}],
        finish="STOP",
        usage={"promptTokenCount": 12, "candidatesTokenCount": 4, "totalTokenCount": 16},
    ),
]


def gemini_error(code: int, status: str, message: str, **extra: object) -> dict[str, object]:
    """Google's error body: ``{"error": {"code", "message", "status", ...}}``."""
    return {"error": {"code": code, "message": message, "status": status, **extra}}


def gsse(*events: str) -> bytes:
    return sse(*events, sep="\r\n\r\n")


# -- fixtures -----------------------------------------------------------------------------


@pytest.fixture
def client(upstream: ReplayServer, home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    """A real client whose ``gemini`` provider points at the replay server."""
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    with client_for(upstream, home, "gemini", MODEL, UPSTREAM) as weighbridge:
        yield weighbridge


def assert_key_only_in_its_header(client: Client, upstream: ReplayServer, *errors: BaseException) -> None:
    """The key went out in x-goog-api-key and nowhere else: not in a URL, error or log."""
    for sent in upstream.requests:
        assert sent.headers["x-goog-api-key"] == KEY
        assert KEY not in sent.path and "key=" not in sent.path
        assert KEY not in sent.raw_body.decode()
    assert_key_not_kept(client, KEY, *errors)


# -- whole answers ------------------------------------------------------------------------


def test_plain_answer_and_the_request_sent(client: Client, upstream: ReplayServer) -> None:
    upstream.reply_json(MEOW)

    response = client.chat(
        [
            {"role": "system", "content": "You are Neko the cat respond like one"},
            {"role": "user", "content": "Hello cat."},
            {"role": "assistant", "content": "Meow? 😻 \n"},
            {"role": "user", "content": "What is your name?"},
            {"role": "user", "content": [{"type": "text", "text": "What do like to drink?"}]},
        ],
        model=MODEL,
        temperature=1.5,
        top_p=0.9,
        max_tokens=100,
        stop=["\n\n"],
        seed=42,
    )

    assert response.content == "Meow 😺 \n"
    assert response.finish_reason == "stop"
    assert response.usage == Usage(prompt_tokens=12, completion_tokens=34)  # 4 + 30 thinking
    assert response.upstream_model == "gemini-2.5-flash"
    [sent] = upstream.requests
    assert (sent.method, sent.path) == ("POST", GENERATE)
    assert sent.body == {
        "systemInstruction": {"parts": [{"text": "You are Neko the cat respond like one"}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Hello cat."}]},
            {"role": "model", "parts": [{"text": "Meow? 😻 \n"}]},
            {
                "role": "user",  # consecutive user turns merged
                "parts": [{"text": "What is your name?"}, {"text": "What do like to drink?"}],
            },
        ],
        "generationConfig": {
            "temperature": 1.5,  # Gemini's range is 0..2, like OpenAI's
            "topP": 0.9,
            "maxOutputTokens": 100,
            "stopSequences": ["\n\n"],
            "seed": 42,
        },
    }
    assert client.store.recent(1)[0].status == "ok"
    assert_key_only_in_its_header(client, upstream)


def test_tool_call_round_trip(client: Client, upstream: ReplayServer) -> None:
    upstream.reply_json(FIND_THEATERS)
    upstream.reply_json(MEOW)
    question = {"role": "user", "content": "Which theaters in Mountain View show Barbie movie?"}

    first = client.chat([question], model=MODEL, tools=[FIND_THEATERS_TOOL], tool_choice="auto")

    [call] = first.tool_calls
    assert (call.id, call.name) == ("call_0", "find_theaters")
    assert json.loads(call.arguments) == {"movie": "Barbie", "location": "Mountain View, CA"}
    assert first.finish_reason == "tool_calls"
    assert first.upstream_model is None  # this documented answer carries no modelVersion
    sent = upstream.requests[0].body
    assert sent["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "find_theaters",
                    "description": FIND_THEATERS_TOOL["function"]["description"],  # type: ignore[index]
                    "parameters": FIND_THEATERS_TOOL["function"]["parameters"],  # type: ignore[index]
                }
            ]
        }
    ]
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}

    theaters = {"movie": "Barbie", "theaters": [{"name": "AMC Mountain View 16"}]}
    client.chat(
        [
            question,
            {"role": "assistant", "tool_calls": [call.openai()]},
            {"role": "tool", "tool_call_id": call.id, "content": json.dumps(theaters)},
        ],
        model=MODEL,
        tools=[FIND_THEATERS_TOOL],
    )

    assert upstream.requests[1].body["contents"][1:] == [
        {
            "role": "model",
            "parts": [
                {
                    "functionCall": {
                        "name": "find_theaters",
                        "args": {"movie": "Barbie", "location": "Mountain View, CA"},
                    }
                }
            ],
        },
        {
            "role": "user",
            "parts": [{"functionResponse": {"name": "find_theaters", "response": theaters}}],
        },
    ]


def test_json_output(client: Client, upstream: ReplayServer) -> None:
    upstream.reply_json(MEOW)
    upstream.reply_json(MEOW)
    schema = {"type": "object", "properties": {"name": {"type": "string"}}}

    client.chat("Name?", model=MODEL, response_format={"type": "json_object"})
    client.chat(
        "Name?",
        model=MODEL,
        response_format={"type": "json_schema", "json_schema": {"name": "n", "schema": schema}},
    )

    assert upstream.requests[0].body["generationConfig"] == {"responseMimeType": "application/json"}
    assert upstream.requests[1].body["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
    }


def test_blocked_prompt_is_an_empty_filtered_answer(client: Client, upstream: ReplayServer) -> None:
    upstream.reply_json(
        {
            "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": SAFETY_RATINGS},
            "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8},
            "modelVersion": "gemini-2.5-flash",
        }
    )

    response = client.chat("something unsafe", model=MODEL)

    assert (response.content, response.finish_reason) == ("", "content_filter")
    assert response.usage == Usage(prompt_tokens=8, completion_tokens=0)


# -- errors and retries -------------------------------------------------------------------


def test_429_with_retry_after_is_waited_out_then_retried(client: Client, upstream: ReplayServer) -> None:
    exhausted = gemini_error(
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details. "
        "For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
        details=[{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}],
    )
    upstream.reply_json(exhausted, status=429, headers={"Retry-After": "1"})
    upstream.reply_json(MEOW)

    assert client.chat("Hello there", model=MODEL).content == "Meow 😺 \n"

    first, second = upstream.requests
    assert second.received_at - first.received_at >= 0.95
    assert_key_only_in_its_header(client, upstream)


def test_400_is_raised_once_with_googles_words(client: Client, upstream: ReplayServer) -> None:
    message = "API key not valid. Please pass a valid API key."
    upstream.reply_json(gemini_error(400, "INVALID_ARGUMENT", message), status=400)

    with pytest.raises(ProviderError) as caught:
        client.chat("Hello there", model=MODEL)

    error = caught.value
    assert (error.status, error.error_type, error.provider_message) == (400, "INVALID_ARGUMENT", message)
    assert str(error) == f"gemini returned 400: {message}"
    assert len(upstream.requests) == 1
    assert client.store.recent(1)[0].status == "error"
    assert_key_only_in_its_header(client, upstream, error)


def test_503_overloaded_is_retried(client: Client, upstream: ReplayServer) -> None:
    overloaded = gemini_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
    upstream.reply_json(overloaded, status=503)
    upstream.reply_json(MEOW)

    assert client.chat("Hello there", model=MODEL).content == "Meow 😺 \n"
    assert len(upstream.requests) == 2


# -- streams ------------------------------------------------------------------------------


def test_stream_in_awkward_pieces(client: Client, upstream: ReplayServer) -> None:
    body = gsse(*MEOW_STREAM)
    second = gsse(MEOW_STREAM[1])
    at = body.index(second)
    pieces = [
        *split_bytes(body[:at], 5),
        *split_bytes(second, 1),  # one byte at a time: through the emoji and the \r\n\r\n
        body[at + len(second) :],
    ]
    upstream.reply_sse(pieces)

    stream = client.stream("Hello there", model=MODEL)
    chunks = drain(stream)

    assert [c.text for c in chunks if c.text] == ["Meow", " 😺", " \n"]
    final = chunks[-1]
    assert final.finish_reason == "stop"
    assert final.usage == Usage(prompt_tokens=12, completion_tokens=4)  # from the last usage
    assert final.upstream_model == "gemini-2.5-flash"
    assert stream.response is not None and stream.response.content == "Meow 😺 \n"
    [sent] = upstream.requests
    assert sent.path == STREAM
    assert client.store.recent(1)[0].status == "ok"
    assert_key_only_in_its_header(client, upstream)


def test_stream_with_finish_reason_on_every_chunk_is_read_to_the_end(
    client: Client, upstream: ReplayServer
) -> None:
    upstream.reply_sse(split_bytes(gsse(*OLD_STREAM), 97), delay_s=0.001)

    text = client.stream("Write a cute story about cats.", model=MODEL).text()

    assert text.endswith("stronger than ever.")
    assert text.startswith("In the quaint")
    assert text.count("Mittens") == 1


def test_stream_tool_call(client: Client, upstream: ReplayServer) -> None:
    call_chunk = chunk(
        FIND_THEATERS["candidates"][0]["content"]["parts"],  # type: ignore[index]
        finish="STOP",
        usage={"promptTokenCount": 60, "candidatesTokenCount": 20, "totalTokenCount": 80},
    )
    upstream.reply_sse([gsse(call_chunk)])

    stream = client.stream(
        "Which theaters in Mountain View show Barbie movie?", model=MODEL, tools=[FIND_THEATERS_TOOL]
    )
    chunks = drain(stream)

    [delta] = chunks[0].tool_calls
    assert (delta.index, delta.id, delta.name) == (0, "call_0", "find_theaters")
    response = stream.response
    assert response is not None
    [call] = response.tool_calls
    assert json.loads(call.arguments) == {"movie": "Barbie", "location": "Mountain View, CA"}
    assert response.finish_reason == "tool_calls"
    assert response.usage == Usage(prompt_tokens=60, completion_tokens=20)


@pytest.mark.parametrize("reset", [False, True], ids=["eof", "tcp-reset"])
def test_stream_cut_after_first_text_is_not_retried(
    client: Client, upstream: ReplayServer, reset: bool
) -> None:
    upstream.reply_cut([gsse(MEOW_STREAM[0])], reset=reset)
    upstream.reply_sse([gsse(*MEOW_STREAM)])  # would be used if the client retried

    seen: list[str] = []
    with pytest.raises(StreamInterruptedError) as caught:
        for piece in client.stream("Hello there", model=MODEL):
            seen.append(piece.text)

    assert seen == ["Meow"]
    cause = "connection closed before" if reset else "stream ended before a finishReason"
    assert cause in caught.value.provider_message
    assert len(upstream.requests) == 1 and upstream.pending == 1
    record = client.store.recent(1)[0]
    assert (record.status, record.response) == ("incomplete", "Meow")
    assert_key_only_in_its_header(client, upstream, caught.value)


def test_connection_lost_after_the_finish_reason_loses_nothing(
    client: Client, upstream: ReplayServer
) -> None:
    upstream.reply_cut([gsse(*MEOW_STREAM)], reset=True)

    stream = client.stream("Hello there", model=MODEL)

    assert stream.text() == "Meow 😺 \n"
    assert stream.response is not None and stream.response.finish_reason == "stop"
    assert len(upstream.requests) == 1


@pytest.mark.parametrize(
    "break_off",
    [
        pytest.param(lambda s: s.reply_cut([]), id="headers-then-eof"),
        pytest.param(lambda s: s.drop(), id="no-response"),
        pytest.param(
            lambda s: s.reply_sse(
                [gsse("data: " + json.dumps(gemini_error(503, "UNAVAILABLE", "The model is overloaded.")))]
            ),
            id="error-chunk",
        ),
    ],
)
def test_stream_broken_before_output_is_retried(
    client: Client, upstream: ReplayServer, break_off: Callable[[ReplayServer], None]
) -> None:
    break_off(upstream)
    upstream.reply_sse([gsse(*MEOW_STREAM)])

    assert client.stream("Hello there", model=MODEL).text() == "Meow 😺 \n"
    assert len(upstream.requests) == 2
    assert client.store.recent(1)[0].status == "ok"


def test_stream_error_status_is_not_retried_when_it_is_the_callers_fault(
    client: Client, upstream: ReplayServer
) -> None:
    upstream.reply_json(gemini_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received."), status=400)

    with pytest.raises(ProviderError, match="Invalid JSON payload") as caught:
        drain(client.stream("Hello there", model=MODEL))

    assert caught.value.status == 400 and not isinstance(caught.value, StreamInterruptedError)
    assert len(upstream.requests) == 1
    assert client.store.recent(1)[0].status == "error"


# -- the pure translation -----------------------------------------------------------------


def test_request_body_translation() -> None:
    request = ChatRequest(
        model=MODEL,
        messages=[
            {"role": "developer", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
                ],
            },
            {
                "role": "assistant",
                "content": "Let me look.",
                "tool_calls": [
                    {"id": "call_7", "type": "function", "function": {"name": "look", "arguments": "{}"}},
                ],
            },
            {"role": "tool", "tool_call_id": "call_7", "content": "a cat"},
        ],
        tool_choice={"type": "function", "function": {"name": "look"}},
    )

    body = request_body(request)

    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert "generationConfig" not in body  # Gemini needs no max_tokens: none is invented
    assert body["contents"] == [
        {
            "role": "user",
            "parts": [
                {"text": "What is this?"},
                {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQ"}},
            ],
        },
        {
            "role": "model",
            "parts": [{"text": "Let me look."}, {"functionCall": {"name": "look", "args": {}}}],
        },
        {"role": "user", "parts": [{"functionResponse": {"name": "look", "response": {"result": "a cat"}}}]},
    ]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["look"]}}


def test_tool_result_without_its_call_is_refused() -> None:
    request = ChatRequest(
        model=MODEL,
        messages=[{"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "x", "content": "1"}],
    )
    with pytest.raises(InvalidRequestError, match="function's name"):
        request_body(request)


def test_finish_reasons_and_thoughts() -> None:
    def body(reason: str, parts: list[dict[str, object]]) -> dict[str, object]:
        return {"candidates": [{"content": {"parts": parts, "role": "model"}, "finishReason": reason}]}

    assert completion_from_body(body("MAX_TOKENS", [{"text": "a"}])).finish_reason == "length"
    for reason in ("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII"):
        assert completion_from_body(body(reason, [])).finish_reason == "content_filter"
    thought = completion_from_body(body("STOP", [{"text": "hmm", "thought": True}, {"text": "42"}]))
    assert thought.content == "42"
    with pytest.raises(ProviderError, match="no candidates"):
        completion_from_body({"candidates": []})


def test_stream_state_without_finish_reason() -> None:
    state = StreamState("gemini")
    assert state.feed(json.loads(MEOW_STREAM[0][len("data: ") :])) is not None
    assert not state.finish_seen
    with pytest.raises(ProviderError) as caught:
        state.feed({"error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}})
    assert (caught.value.status, caught.value.error_type) == (500, "INTERNAL")
