"""SSE decoding gives the same events however the bytes are split."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from weighbridge.providers.sse import Decoder, Event

STREAM = (
    'event: message_start\r\ndata: {"type": "message_start"}\r\n\r\n'
    ": a comment line\n"
    "data: first line\ndata: second line é ✓ 🙂\n\n"
    "event: ping\rdata: {}\r\r"
    "id: 7\ndata:no-space\n\n"
    "data: [DONE]\n\n"
).encode()

EXPECTED = [
    Event("message_start", '{"type": "message_start"}'),
    Event("message", "first line\nsecond line é ✓ 🙂"),
    Event("ping", "{}"),
    Event("message", "no-space", "7"),
    Event("message", "[DONE]", "7"),
]


def decode(pieces: list[bytes]) -> list[Event]:
    decoder = Decoder()
    return [event for piece in pieces for event in decoder.feed(piece)]


def test_whole_stream() -> None:
    assert decode([STREAM]) == EXPECTED


def test_byte_by_byte() -> None:
    assert decode([STREAM[i : i + 1] for i in range(len(STREAM))]) == EXPECTED


@given(st.sets(st.integers(min_value=1, max_value=len(STREAM) - 1)))
@settings(max_examples=300)
def test_any_split(cuts: set[int]) -> None:
    bounds = [0, *sorted(cuts), len(STREAM)]
    pieces = [STREAM[a:b] for a, b in itertools.pairwise(bounds)]
    assert decode(pieces) == EXPECTED


def test_unfinished_event_is_dropped() -> None:
    assert decode([b"data: complete\n\ndata: cut off"]) == [Event("message", "complete")]
