"""The Provider protocol, and how a provider type is found.

A provider speaks one wire protocol (or runs one backend) and nothing more: no retries, no
logging, no pricing; the client does those once for all. Built-in providers are registered
the same way a third party's are: as ``"module:Class"`` strings, imported on first use so
``import weighbridge`` stays light; plugins add theirs through the ``weighbridge.providers``
entry-point group.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Protocol

from weighbridge.errors import ConfigError

if TYPE_CHECKING:
    import httpx

    from weighbridge.targets import Target
    from weighbridge.types import ChatRequest, Completion, StreamChunk

BUILTIN = {
    "openai": "weighbridge.providers.openai:OpenAIProvider",
    "anthropic": "weighbridge.providers.anthropic:AnthropicProvider",
    "gemini": "weighbridge.providers.gemini:GeminiProvider",
    "llamacpp": "weighbridge.providers.llamacpp:LlamaCppProvider",
}


class Provider(Protocol):
    """One backend. Implementations raise only :mod:`weighbridge.errors` types."""

    async def complete(self, target: Target, request: ChatRequest) -> Completion:
        """The whole answer at once."""
        ...

    def stream(self, target: Target, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        """The answer as chunks; the last carries finish reason and usage when known."""
        ...

    async def aclose(self) -> None:
        """Release what the provider holds (loaded models, worker threads)."""
        ...


class ProviderFactory(Protocol):
    def __call__(self, http: httpx.AsyncClient) -> Provider: ...


def provider_factory(kind: str) -> ProviderFactory:
    """The class registered for provider type ``kind``."""
    spec = BUILTIN.get(kind) or _plugin_spec(kind)
    if spec is None:
        raise ConfigError(f"no provider of type '{kind}' is installed")
    module, _, name = spec.partition(":")
    factory: ProviderFactory = getattr(importlib.import_module(module), name)
    return factory


def _plugin_spec(kind: str) -> str | None:
    from importlib.metadata import entry_points

    for ep in entry_points(group="weighbridge.providers"):
        if ep.name == kind:
            return str(ep.value)
    return None
