"""Server-sent events, decoded incrementally as the WHATWG spec says.

Bytes arrive split anywhere: inside a UTF-8 character, between ``\\r`` and ``\\n``, in the
middle of a field. The decoder keeps what it cannot finish yet, so the events it yields are
the same however the stream was cut into chunks.
"""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    event: str
    data: str
    id: str | None = None


class Decoder:
    """Feed bytes, get complete events; an unfinished event at end of stream is dropped."""

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._pending_cr = False
        self._event = ""
        self._data: list[str] = []
        self._last_id: str | None = None

    def feed(self, chunk: bytes) -> list[Event]:
        text = self._utf8.decode(chunk)
        if self._pending_cr and text.startswith("\n"):
            text = text[1:]
        self._pending_cr = False
        self._buffer += text
        events: list[Event] = []
        while True:
            cut = _line_end(self._buffer)
            if cut is None:
                break
            line, sep_len = self._buffer[:cut], _sep_len(self._buffer, cut)
            if sep_len == 0:  # a lone \r at the very end: maybe half of \r\n
                self._buffer = ""
                self._pending_cr = True
            else:
                self._buffer = self._buffer[cut + sep_len :]
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def _line(self, line: str) -> Event | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._last_id = value
        return None

    def _dispatch(self) -> Event | None:
        if not self._data:
            self._event = ""
            return None
        event = Event(self._event or "message", "\n".join(self._data), self._last_id)
        self._event, self._data = "", []
        return event


def _line_end(buffer: str) -> int | None:
    positions = [p for p in (buffer.find("\r"), buffer.find("\n")) if p >= 0]
    return min(positions) if positions else None


def _sep_len(buffer: str, cut: int) -> int:
    if buffer[cut] == "\n":
        return 1
    if cut + 1 < len(buffer):
        return 2 if buffer[cut + 1] == "\n" else 1
    return 0


async def aiter_events(chunks: AsyncIterable[bytes]) -> AsyncIterator[Event]:
    """Events from a byte stream, such as ``httpx.Response.aiter_bytes()``."""
    decoder = Decoder()
    async for chunk in chunks:
        for event in decoder.feed(chunk):
            yield event
