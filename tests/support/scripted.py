"""A provider type that answers from a script instead of a network, for the tests of what sits
above providers (routing, fallbacks, breakers, compare runs, the gateway's accounting).

It is registered through the ``weighbridge.providers`` entry point exactly as a third party's
plugin is: its dist-info is in ``tests/support/site``, which ``conftest.py`` puts on the path.
A config names it like any type (``type = "scripted"``); each provider instance of that type
answers from the :class:`Script` registered under the instance's name, in order, and keeps
what it was asked. Failures are raised as the real wire providers raise them (a
:class:`~weighbridge.errors.ProviderError` with the HTTP status), so retries, fallbacks and
breakers see exactly what they see in production.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx

from weighbridge.capabilities import Capabilities
from weighbridge.errors import ProviderError, StreamInterruptedError
from weighbridge.targets import Target
from weighbridge.types import ChatRequest, Completion, StreamChunk, Usage


@dataclass(frozen=True)
class _Reply:
    text: str = ""
    status: int = 200
    #: Stream only: the connection drops after the text (a cut mid-answer).
    cut: bool = False
    hold_s: float = 0.0


@dataclass
class Script:
    """What one provider instance answers, in order, and the requests it was sent."""

    replies: deque[_Reply] = field(default_factory=deque)
    requests: list[ChatRequest] = field(default_factory=list)

    def answer(self, text: str, *, hold_s: float = 0.0) -> Script:
        """The next call answers ``text`` (after ``hold_s`` seconds: a slow upstream)."""
        self.replies.append(_Reply(text, hold_s=hold_s))
        return self

    def fail(self, status: int, message: str = "scripted failure") -> Script:
        """The next call fails with this HTTP status and message."""
        self.replies.append(_Reply(message, status=status))
        return self

    def cut(self, text: str) -> Script:
        """The next stream sends ``text`` and then breaks."""
        self.replies.append(_Reply(text, cut=True))
        return self


#: The scripts by provider instance name (the ``[providers.NAME]`` of the config).
SCRIPTS: dict[str, Script] = {}


def script(name: str) -> Script:
    """A fresh script for the provider instance ``name``."""
    made = SCRIPTS[name] = Script()
    return made


def config(*models: tuple[str, str], price: str | None = None) -> str:
    """Config for ``(model, provider instance)`` pairs served by scripted providers."""
    parts = []
    for provider in dict.fromkeys(p for _, p in models):
        parts.append(f'[providers.{provider}]\ntype = "scripted"\nbase_url = "scripted://{provider}"\n')
    for model, provider in models:
        priced = f"price = {price}\n" if price else ""
        parts.append(f'[models.{model}]\nprovider = "{provider}"\nmodel = "{model}-upstream"\n{priced}')
    return "\n".join(parts)


class ScriptedProvider:
    capabilities = Capabilities(weights="remote", operations=frozenset({"chat"}))

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def complete(self, target: Target, request: ChatRequest) -> Completion:
        reply = await self._next(target, request)
        return Completion(
            content=reply.text,
            finish_reason="stop",
            usage=_usage(request, reply),
            upstream_model=target.upstream,
        )

    async def stream(self, target: Target, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        reply = await self._next(target, request)
        words = reply.text.split(" ")
        for n, word in enumerate(words):
            yield StreamChunk(text=word if n == 0 else " " + word, upstream_model=target.upstream)
        if reply.cut:
            raise StreamInterruptedError(target.provider_name, "the connection was cut mid-stream")
        yield StreamChunk(finish_reason="stop", usage=_usage(request, reply))

    async def aclose(self) -> None:
        return None

    @staticmethod
    async def _next(target: Target, request: ChatRequest) -> _Reply:
        script = SCRIPTS.get(target.provider_name)
        if script is None:
            raise ProviderError(target.provider_name, "no script for this provider", status=500)
        script.requests.append(request)
        if not script.replies:
            raise ProviderError(target.provider_name, "the script has no more replies", status=500)
        reply = script.replies.popleft()
        if reply.hold_s:
            await asyncio.sleep(reply.hold_s)
        if reply.status != 200:
            raise ProviderError(target.provider_name, reply.text, status=reply.status)
        return reply


def _usage(request: ChatRequest, reply: _Reply) -> Usage:
    asked = sum(len(m.text().split()) for m in request.messages)
    return Usage(prompt_tokens=asked, completion_tokens=len(reply.text.split()))
