"""A provider type that answers from a script instead of a network, for the tests of what sits
above providers (routing, fallbacks, breakers, compare runs, the gateway's accounting).

It is registered through the ``weighbridge.providers`` entry point exactly as a third party's
plugin is: its dist-info is in ``tests/support/site``, which ``conftest.py`` puts on the path.
A config names it like any type (``type = "scripted"``); each provider instance of that type
answers from the :class:`Script` registered under the instance's name, in order, and keeps
what it was asked. Failures are raised as the real wire providers raise them (a
:class:`~weighbridge.errors.ProviderError` with the HTTP status), so retries, fallbacks and
breakers see exactly what they see in production.

Where the order of calls is not known (a compare run sends its cells concurrently), a script
answers by content instead: its ``respond`` callable is given the model id and the last
message and says what to answer, as ``tests/support/compare.py``'s ``Script`` does::

    scripted.script("cloud", respond=lambda model, question: "Paris" if "France" in question else "?")
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
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
    #: Stream only: the pieces as sent (they join to ``text``); None splits it at spaces.
    pieces: tuple[str, ...] | None = None


#: What a ``respond`` callable answers: the text, or (HTTP status, text, seconds to hold the
#: call before answering), the same shape as ``tests.support.compare.Reply``.
Reply = str | tuple[int, str, float]
#: Called with (model id, the request's last message) for each call no queued reply answers.
Respond = Callable[[str, str], Reply]


@dataclass
class Script:
    """What one provider instance answers, in order, and the requests it was sent.

    Queued replies answer first; when none is left, ``respond`` (if set) answers by content.
    ``upstream`` and ``usage`` stand for what a real upstream reports with every answer (a dated
    snapshot id, its own token counts), for the tests that check those are what is kept."""

    replies: deque[_Reply] = field(default_factory=deque)
    requests: list[ChatRequest] = field(default_factory=list)
    #: For each request, whether it came as a stream (a real upstream sees ``"stream": true``).
    streamed: list[bool] = field(default_factory=list)
    respond: Respond | None = None
    #: The model id the answers say answered; None: the configured upstream id.
    upstream: str | None = None
    #: The token counts every answer reports; None: the words asked and answered, counted.
    usage: Usage | None = None

    def answer(self, text: str, *, hold_s: float = 0.0) -> Script:
        """The next call answers ``text`` (after ``hold_s`` seconds: a slow upstream)."""
        self.replies.append(_Reply(text, hold_s=hold_s))
        return self

    def chunks(self, *pieces: str) -> Script:
        """The next call answers the pieces joined; a stream sends them exactly as given (a
        placeholder split across two chunks, say)."""
        self.replies.append(_Reply("".join(pieces), pieces=pieces))
        return self

    def fail(self, status: int, message: str = "scripted failure") -> Script:
        """The next call fails with this HTTP status and message."""
        self.replies.append(_Reply(message, status=status))
        return self

    def cut(self, text: str) -> Script:
        """The next stream sends ``text`` and then breaks."""
        self.replies.append(_Reply(text, cut=True))
        return self

    def asked(self) -> list[str]:
        """The last message of each request (the user's question), in arrival order."""
        return [r.messages[-1].text() for r in self.requests]


#: The scripts by provider instance name (the ``[providers.NAME]`` of the config).
SCRIPTS: dict[str, Script] = {}


def script(name: str, *, respond: Respond | None = None) -> Script:
    """A fresh script for the provider instance ``name`` (answering by content with ``respond``)."""
    made = SCRIPTS[name] = Script(respond=respond)
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
        script, reply = await self._next(target, request, streamed=False)
        return Completion(
            content=reply.text,
            finish_reason="stop",
            usage=_usage(script, request, reply),
            upstream_model=script.upstream or target.upstream,
        )

    async def stream(self, target: Target, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        script, reply = await self._next(target, request, streamed=True)
        upstream = script.upstream or target.upstream
        words = reply.text.split(" ")
        pieces = reply.pieces or tuple(w if n == 0 else " " + w for n, w in enumerate(words))
        for piece in pieces:
            yield StreamChunk(text=piece, upstream_model=upstream)
        if reply.cut:
            raise StreamInterruptedError(target.provider_name, "the connection was cut mid-stream")
        yield StreamChunk(finish_reason="stop", usage=_usage(script, request, reply))

    async def aclose(self) -> None:
        return None

    @staticmethod
    async def _next(target: Target, request: ChatRequest, *, streamed: bool) -> tuple[Script, _Reply]:
        script = SCRIPTS.get(target.provider_name)
        if script is None:
            raise ProviderError(target.provider_name, "no script for this provider", status=500)
        script.requests.append(request)
        script.streamed.append(streamed)
        if script.replies:
            reply = script.replies.popleft()
        elif script.respond is not None:
            said = script.respond(target.model_id, request.messages[-1].text())
            status, text, hold = (200, said, 0.0) if isinstance(said, str) else said
            reply = _Reply(text, status=status, hold_s=hold)
        else:
            raise ProviderError(target.provider_name, "the script has no more replies", status=500)
        if reply.hold_s:
            await asyncio.sleep(reply.hold_s)
        if reply.status != 200:
            raise ProviderError(target.provider_name, reply.text, status=reply.status)
        return script, reply


def _usage(script: Script, request: ChatRequest, reply: _Reply) -> Usage:
    if script.usage is not None:
        return script.usage
    asked = sum(len(m.text().split()) for m in request.messages)
    return Usage(prompt_tokens=asked, completion_tokens=len(reply.text.split()))
