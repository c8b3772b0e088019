"""The Provider protocol: what every provider type implements, built-in or a plugin's.

A provider speaks one wire protocol (or runs one backend) and nothing more: no retries, no
logging, no pricing; the client does those once for all. Its class declares what it can do
(:class:`~weighbridge.capabilities.Capabilities`); each optional operation it declares is a
method beside the three below: ``text`` is ``complete_text(target, TextRequest) ->
TextCompletion``, ``embeddings`` is ``embed(target, EmbeddingRequest) -> Embeddings``,
``score`` is ``score(target, ScoreRequest) -> Scores``, ``images`` is
``generate_images(target, ImageRequest) -> Images``, ``tokenize`` is ``tokenize(target,
text, add_special)``, ``detokenize(target, tokens)`` and ``tokenizer_info(target)``. Types are
found through the registry in :mod:`weighbridge.plugins`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Protocol

from weighbridge.capabilities import Capabilities

if TYPE_CHECKING:
    import httpx

    from weighbridge.targets import Target
    from weighbridge.types import (
        ChatRequest,
        Completion,
        EmbeddingRequest,
        Embeddings,
        ImageRequest,
        Images,
        ScoreRequest,
        Scores,
        StreamChunk,
        TextCompletion,
        TextRequest,
    )


class Provider(Protocol):
    """One backend. Implementations raise only :mod:`weighbridge.errors` types."""

    capabilities: Capabilities

    async def complete(self, target: Target, request: ChatRequest) -> Completion:
        """The whole answer at once."""
        ...

    def stream(self, target: Target, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        """The answer as chunks; the last carries finish reason and usage when known."""
        ...

    async def aclose(self) -> None:
        """Release what the provider holds (loaded models, worker threads)."""
        ...


class TextProvider(Provider, Protocol):
    """A provider whose capabilities offer ``text``."""

    async def complete_text(self, target: Target, request: TextRequest) -> TextCompletion: ...


class EmbeddingProvider(Provider, Protocol):
    """A provider whose capabilities offer ``embeddings``."""

    async def embed(self, target: Target, request: EmbeddingRequest) -> Embeddings: ...


class ScoringProvider(Provider, Protocol):
    """A provider whose capabilities offer ``score``."""

    async def score(self, target: Target, request: ScoreRequest) -> Scores: ...


class ImageProvider(Provider, Protocol):
    """A provider whose capabilities offer ``images``. One that offers nothing else answers
    ``complete`` and ``stream`` with an :class:`~weighbridge.errors.InvalidRequestError`."""

    async def generate_images(self, target: Target, request: ImageRequest) -> Images: ...


class ProviderFactory(Protocol):
    """A provider class: made with the loop's HTTP pool, and declaring its capabilities."""

    capabilities: Capabilities

    def __call__(self, http: httpx.AsyncClient) -> Provider: ...
