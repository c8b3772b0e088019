"""OpenAI's Images API, ``POST /images/generations``: request -> body, body -> pictures, as pure
functions, and the few helpers every image wire shares (its terms are weighbridge's own:
:class:`~weighbridge.types.ImageRequest` speaks them).

OpenAI's own models each take their own sizes, qualities and counts, and api.openai.com has
none of the open pipelines' knobs (seed, steps, negative prompt, guidance): a request they
cannot honour is refused here, before anything is sent, naming what they do take. An
OpenAI-compatible endpoint elsewhere (LocalAI, another weighbridge) decides for itself what it
takes, so it is sent the request whole, those knobs included.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from weighbridge.errors import InvalidRequestError, ProviderError
from weighbridge.providers.images import decoded_image
from weighbridge.types import GeneratedImage, ImageFormat, ImageRequest, Images, Usage

T = TypeVar("T")

OPENAI_HOST = "api.openai.com"
#: The knobs of open pipelines that ImageRequest carries and OpenAI's API has no field for.
OPEN_KNOBS = ("seed", "steps", "negative_prompt", "guidance")
_FORMATS: tuple[ImageFormat, ...] = ("png", "jpeg", "webp")


@dataclass(frozen=True)
class OpenAIImageModel:
    """What one family of OpenAI's image models takes, as its API reference lists it."""

    sizes: tuple[str, ...]
    qualities: tuple[str, ...]
    max_n: int
    formats: tuple[ImageFormat, ...]
    #: dall-e answers with a URL unless asked for ``b64_json``; gpt-image always answers
    #: ``b64_json`` and refuses the parameter.
    takes_response_format: bool

    def check(self, model: str, request: ImageRequest) -> None:
        """Refuse what ``model`` cannot make, naming what it can."""
        if request.size is not None and request.size not in self.sizes:
            raise InvalidRequestError(
                f"{model} makes images of size {_listed(self.sizes)}, not {request.size}"
            )
        if request.quality is not None and request.quality not in self.qualities:
            raise InvalidRequestError(
                f"{model} takes quality {_listed(self.qualities)}, not {request.quality}"
            )
        if request.n > self.max_n:
            raise InvalidRequestError(
                f"{model} makes at most {self.max_n} image{'s' if self.max_n > 1 else ''} per request "
                f"(n={request.n})"
            )
        if request.output_format not in self.formats:
            raise InvalidRequestError(
                f"{model} makes {_listed(self.formats)} images, not {request.output_format}"
            )


GPT_IMAGE = OpenAIImageModel(
    sizes=("1024x1024", "1536x1024", "1024x1536", "auto"),
    qualities=("low", "medium", "high", "auto"),
    max_n=10,
    formats=_FORMATS,
    takes_response_format=False,
)
DALL_E_3 = OpenAIImageModel(
    sizes=("1024x1024", "1792x1024", "1024x1792"),
    qualities=("standard", "hd", "auto"),
    max_n=1,
    formats=("png",),
    takes_response_format=True,
)
DALL_E_2 = OpenAIImageModel(
    sizes=("256x256", "512x512", "1024x1024"),
    qualities=("standard", "auto"),
    max_n=10,
    formats=("png",),
    takes_response_format=True,
)


def openai_image_model(upstream: str) -> OpenAIImageModel | None:
    """The family of one of OpenAI's image models; None for an id OpenAI has not documented."""
    if upstream.startswith("gpt-image-"):
        return GPT_IMAGE
    return {"dall-e-3": DALL_E_3, "dall-e-2": DALL_E_2}.get(upstream)


def is_openai(base_url: str) -> bool:
    """Whether ``base_url`` is OpenAI's own API, whose models' rules are known here."""
    return httpx.URL(base_url).host == OPENAI_HOST


def request_body(request: ImageRequest, upstream: str, *, openai: bool) -> dict[str, Any]:
    """The ``/images/generations`` body; ``openai``: the endpoint is api.openai.com itself."""
    body: dict[str, Any] = {"model": upstream, "prompt": request.prompt, "n": request.n}
    body.update(request.model_dump(include={"size", "quality"}, exclude_none=True))
    if not openai:
        body.update(request.model_dump(include=set(OPEN_KNOBS), exclude_none=True))
        return {**body, "output_format": request.output_format, "response_format": "b64_json"}
    for knob in OPEN_KNOBS:
        if getattr(request, knob) is not None:
            raise InvalidRequestError(
                f"OpenAI's Images API has no '{knob}' parameter: leave it out, or ask a model that "
                "takes it (a local diffusers pipeline, or FLUX through the bfl provider)"
            )
    family = openai_image_model(upstream)
    if family is None:
        # An id not documented here: OpenAI judges it, and is told only what differs from
        # the defaults.
        if request.output_format != "png":
            body["output_format"] = request.output_format
        return body
    family.check(upstream, request)
    if family.takes_response_format:
        body["response_format"] = "b64_json"  # the picture in the answer: no second download
    else:
        body["output_format"] = request.output_format
    return body


def images_from_body(provider: str, data: dict[str, Any], request: ImageRequest) -> Images:
    """The pictures of an ``/images/generations`` answer, in order."""
    items = data.get("data") or []
    if not items:
        raise ProviderError(provider, "answered with no images")
    answered = data.get("output_format")
    image_format = answered if answered in _FORMATS else request.output_format
    usage = data.get("usage") or {}
    return Images(
        images=[
            GeneratedImage(
                data=decoded_image(provider, item.get("b64_json")),
                format=image_format,
                revised_prompt=item.get("revised_prompt") or None,
            )
            for item in items
        ],
        usage=Usage(
            prompt_tokens=usage.get("input_tokens") or 0,
            completion_tokens=usage.get("output_tokens") or 0,
        ),
        upstream_model=data.get("model"),
        size=data.get("size") or (request.size if request.size != "auto" else None),
    )


# -- shared by every image wire ------------------------------------------------------------


def _listed(values: Iterable[str]) -> str:
    items = list(values)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"
