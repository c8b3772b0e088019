"""What every image wire shares: a picture's base64 decoded (or the error saying what came
instead), n calls made at once, and the refusal a chat to an image model gets."""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Iterable
from typing import TypeVar

from weighbridge.errors import InvalidRequestError, ProviderError

T = TypeVar("T")


def not_for_chat(model: str) -> InvalidRequestError:
    """What a chat sent to an image model is told: where to ask instead."""
    return InvalidRequestError(
        f"{model} is an image model: ask it for images (POST /v1/images/generations, weighbridge image)"
    )


def decoded_image(provider: str, encoded: object) -> bytes:
    """A picture sent as base64 text, or the error that says what came instead."""
    if not isinstance(encoded, str) or not encoded:
        raise ProviderError(provider, "answered without the image's base64 data")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ProviderError(provider, "sent image data that is not valid base64") from None


async def gather_all(calls: Iterable[Awaitable[T]]) -> list[T]:
    """Every call's result, the calls made at once. The first failure is raised as itself (a
    caller branches on one ProviderError, not on a group of them) and cancels the rest, so
    nothing keeps polling or downloading for an answer no one will read."""
    tasks = [asyncio.ensure_future(call) for call in calls]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
