"""OpenAI's Images API (``POST /v1/images/generations``) as the gateway speaks it: pure
functions, so the openai SDK's ``images.generate`` works unchanged.

``seed``, ``steps``, ``negative_prompt`` and ``guidance`` are weighbridge's extensions (open
pipelines take them; the SDK sends them with ``extra_body``). Fields that would change the
picture and that no backend here honours (``background``, ``style``, ``output_compression``)
are refused, never dropped; ``user`` and ``moderation`` change nothing and are ignored.
"""

from __future__ import annotations

import base64
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from weighbridge.errors import InvalidRequestError
from weighbridge.types import ImageRequest, ImageResponse, validation_message

#: What the answer carries per picture: the bytes inline, or a URL to fetch them from.
ResponseFormat = Literal["b64_json", "url"]


class ImagesBody(BaseModel):
    """What ``POST /v1/images/generations`` accepts, beyond the core request's fields."""

    model_config = ConfigDict(extra="allow")

    model: str
    response_format: ResponseFormat = "b64_json"
    background: str | None = None
    style: str | None = None
    output_compression: int | None = None


_IGNORED = {"user", "moderation", "response_format", "background", "style", "output_compression"}


def parse_images_body(data: object) -> tuple[ImagesBody, ImageRequest]:
    """The request as sent, and as the core's request; a one-line error for anything wrong."""
    try:
        body = ImagesBody.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequestError(validation_message(exc)) from None
    if body.background not in (None, "auto"):
        raise InvalidRequestError(
            "background: only 'auto' is supported (no transparent or opaque backgrounds)"
        )
    if body.style is not None:
        raise InvalidRequestError("style is not supported: describe the style in the prompt")
    if body.output_compression not in (None, 100):
        raise InvalidRequestError("output_compression is not supported: pictures are encoded at full quality")
    assert isinstance(data, dict)  # a model_validate that passed had a mapping
    fields = {name: value for name, value in data.items() if name not in _IGNORED}
    try:
        return body, ImageRequest.model_validate(fields)
    except ValidationError as exc:
        raise InvalidRequestError(validation_message(exc)) from None


def images_json(response: ImageResponse, asked: ImageRequest, urls: list[str] | None) -> dict[str, Any]:
    """The answer in OpenAI's shape: ``data`` with ``b64_json`` (or ``url`` where ``urls`` are
    given) and ``revised_prompt`` where the service rewrote the prompt; the size and format
    made, and the token usage where the service billed tokens."""
    data: list[dict[str, Any]] = []
    for i, image in enumerate(response.images):
        item: dict[str, Any] = (
            {"url": urls[i]} if urls is not None else {"b64_json": base64.b64encode(image.data).decode()}
        )
        if image.revised_prompt is not None:
            item["revised_prompt"] = image.revised_prompt
        data.append(item)
    out: dict[str, Any] = {
        "created": int(time.time()),
        "data": data,
        "output_format": response.images[0].format if response.images else asked.output_format,
    }
    if response.size is not None:
        out["size"] = response.size
    if asked.quality is not None:
        out["quality"] = asked.quality
    if response.usage.total_tokens:
        out["usage"] = {
            "input_tokens": response.usage.prompt_tokens,
            "output_tokens": response.usage.completion_tokens,
            "total_tokens": response.usage.total_tokens,
            "input_tokens_details": {"text_tokens": response.usage.prompt_tokens, "image_tokens": 0},
        }
    return out
