"""The provider instances a client talks through, one set per event loop.

httpx clients are bound to the event loop they were made on, so each loop (the sync face's
private thread, a server's loop, a test's) gets its own HTTP pool and providers over it.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING

import httpx

from weighbridge.plugins import provider_class
from weighbridge.providers.base import Provider
from weighbridge.targets import Target

if TYPE_CHECKING:
    from weighbridge.engines.pool import Engines


class ProviderPool:
    """Providers by instance name, per loop. With ``engines``, models whose weights are a local
    GGUF file run on supervised engines (llama-server: the gateway's choice) instead of
    in-process."""

    def __init__(self, engines: Engines | None = None) -> None:
        self.engines = engines
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
            weakref.WeakKeyDictionary()
        )

    def get(self, target: Target) -> Provider:
        """The provider for ``target`` on the running loop, made on first use."""
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:  # not setdefault: that would build (and leak) an HTTP pool per call
            state = self._loops[loop] = _LoopState()
        provider = state.providers.get(target.provider_name)
        if provider is None:
            weights = target.weight_file
            if weights is not None and weights.suffix.lower() == ".gguf" and self.engines is not None:
                from weighbridge.providers.engine import EngineProvider  # start-up: engines are heavy

                provider = EngineProvider(self.engines)
            else:
                provider = provider_class(target.provider.type)(state.http)
            state.providers[target.provider_name] = provider
        return provider

    async def aclose(self) -> None:
        """Close the providers and HTTP connections made on the running loop."""
        state = self._loops.pop(asyncio.get_running_loop(), None)
        if state is not None:
            await state.aclose()


class _LoopState:
    """What the pool holds on one event loop: the shared HTTP pool and the providers using it."""

    def __init__(self) -> None:
        from weighbridge.providers.transport import upstream_client  # start-up: aiohttp is heavy

        # Per-request timeouts come from each provider's entry; this only bounds connecting.
        # A gateway keeps many upstream requests in flight: a pool as small as httpx's default
        # (20 idle connections) would open a new connection for most of them under load. The
        # transport is aiohttp's pool, whose cost per request does not grow with its size.
        self.http = upstream_client(
            httpx.Limits(max_connections=512, max_keepalive_connections=256),
            httpx.Timeout(600, connect=10),
        )
        self.providers: dict[str, Provider] = {}

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()
        await self.http.aclose()
