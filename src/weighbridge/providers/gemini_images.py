"""Pictures from Google's Gemini API, two ways, as pure functions (request -> body, body ->
pictures). Which one a model takes is read from its id:

* ``imagen-*``: ``models/{model}:predict`` with ``{"instances": [{"prompt"}], "parameters"}``,
  answered with ``predictions[].bytesBase64Encoded``. Up to four pictures a call
  (``sampleCount``). On the Gemini API (unlike Vertex AI) Imagen takes no seed, no negative
  prompt, no watermark switch: Google's own SDKs refuse those there, and so does this.
* any other model (``gemini-2.5-flash-image``, ``gemini-3-pro-image-preview``...):
  ``generateContent`` asking for ``responseModalities: ["TEXT", "IMAGE"]``, the pictures
  coming back as ``inlineData`` parts. These models make one candidate per call
  (``candidateCount`` above 1 is refused for them), so n pictures are n calls.

Both take an aspect ratio rather than a size: a size is accepted when it has one of the ratios
(``1536x1024`` is 3:2), or is the documented output size of one (``1184x864`` is Gemini's 4:3).
"""

from __future__ import annotations

import math
from typing import Any

from weighbridge.errors import InvalidRequestError, ProviderError
from weighbridge.providers.images import decoded_image
from weighbridge.types import GeneratedImage, ImageFormat, ImageRequest, Images, Usage

#: Gemini's image output: each aspect ratio, with its documented 1K size (gemini-2.5-flash-image).
GEMINI_RATIOS: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:2": (1248, 832),
    "3:4": (864, 1184),
    "4:3": (1184, 864),
    "4:5": (896, 1152),
    "5:4": (1152, 896),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
    "21:9": (1536, 672),
}
#: Imagen's aspect ratios, with their documented 1K sizes.
IMAGEN_RATIOS: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "3:4": (896, 1280),
    "4:3": (1280, 896),
    "9:16": (768, 1408),
    "16:9": (1408, 768),
}
IMAGEN_MAX_N = 4

_MIME_FORMATS: dict[str, ImageFormat] = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp"}
_CONTENT_POLICY = "content_policy_violation"


def is_imagen(model: str) -> bool:
    """Whether ``model`` (an upstream id) is an Imagen model, answered by ``:predict``."""
    return model.removeprefix("models/").startswith("imagen-")


def aspect_ratio(request: ImageRequest, model: str, ratios: dict[str, tuple[int, int]]) -> str | None:
    """The aspect ratio that ``request.size`` asks for; None to leave it to the model."""
    dims = request.dimensions()
    if dims is None:
        return None
    width, height = dims
    common = math.gcd(width, height)
    reduced = f"{width // common}:{height // common}"
    if reduced in ratios:
        return reduced
    for ratio, documented in ratios.items():
        if documented == dims:
            return ratio
    sizes = ", ".join(f"{w}x{h}" for w, h in ratios.values())
    raise InvalidRequestError(
        f"{model} makes pictures in the aspect ratios {', '.join(ratios)}; size {request.size} has "
        f"none of them: ask for one (such as {sizes})"
    )


def _refuse(request: ImageRequest, model: str, knobs: tuple[str, ...], where: str) -> None:
    for knob in knobs:
        if getattr(request, knob) is not None:
            raise InvalidRequestError(f"{model} has no '{knob}' parameter {where}: leave it out")
    if request.quality not in (None, "auto"):
        raise InvalidRequestError(f"{model} has no quality setting: leave quality out (or 'auto')")


# -- Gemini: generateContent with image output ------------------------------------------------


def generate_content_body(request: ImageRequest, model: str) -> dict[str, Any]:
    """The generateContent body for one of ``request``'s pictures."""
    _refuse(request, model, ("steps", "negative_prompt", "guidance"), "in Gemini's image output")
    if request.output_format != "png":
        raise InvalidRequestError(
            f"{model} chooses its own image format on the Gemini API: leave output_format at png"
        )
    config: dict[str, Any] = {"responseModalities": ["TEXT", "IMAGE"]}
    ratio = aspect_ratio(request, model, GEMINI_RATIOS)
    if ratio is not None:
        config["imageConfig"] = {"aspectRatio": ratio}
    if request.seed is not None:
        config["seed"] = request.seed
    return {"contents": [{"role": "user", "parts": [{"text": request.prompt}]}], "generationConfig": config}


def images_from_content(provider: str, body: dict[str, Any]) -> Images:
    """The pictures of one generateContent answer. A blocked prompt, or a candidate stopped by
    a safety filter before any picture, is a content-policy refusal (status 400, as OpenAI
    answers one), not an empty success."""
    usage = body.get("usageMetadata") or {}
    block = (body.get("promptFeedback") or {}).get("blockReason")
    if block:
        raise _refused(provider, f"blocked the prompt ({block})")
    candidates = body.get("candidates") or []
    if not candidates:
        raise ProviderError(provider, "answered with no candidates")
    candidate = candidates[0]
    parts = (candidate.get("content") or {}).get("parts") or []
    images = [
        GeneratedImage(
            data=decoded_image(provider, part["inlineData"].get("data")),
            format=_format(provider, part["inlineData"].get("mimeType")),
        )
        for part in parts
        if isinstance(part.get("inlineData"), dict) and not part.get("thought")
    ]
    if not images:
        reason = candidate.get("finishReason") or "STOP"
        if reason in ("SAFETY", "IMAGE_SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION"):
            raise _refused(provider, f"made no image: its safety filters stopped it ({reason})")
        said = " ".join(p["text"] for p in parts if p.get("text") and not p.get("thought"))
        raise ProviderError(
            provider, f"answered without an image ({reason})" + (f": {said[:200]}" if said else "")
        )
    return Images(
        images=images,
        usage=Usage(
            prompt_tokens=usage.get("promptTokenCount") or 0,
            completion_tokens=(usage.get("candidatesTokenCount") or 0)
            + (usage.get("thoughtsTokenCount") or 0),
        ),
        upstream_model=body.get("modelVersion"),
    )


def combined(answers: list[Images]) -> Images:
    """The answers of n one-picture calls as one: pictures in order, usage added up."""
    return Images(
        images=[image for answer in answers for image in answer.images],
        usage=Usage(
            prompt_tokens=sum(a.usage.prompt_tokens for a in answers),
            completion_tokens=sum(a.usage.completion_tokens for a in answers),
        ),
        upstream_model=next((a.upstream_model for a in answers if a.upstream_model), None),
    )


# -- Imagen: predict ---------------------------------------------------------------------------


def predict_body(request: ImageRequest, model: str) -> dict[str, Any]:
    """The ``:predict`` body for ``request``."""
    _refuse(request, model, ("seed", "steps", "negative_prompt"), "on the Gemini API (Imagen)")
    if request.n > IMAGEN_MAX_N:
        raise InvalidRequestError(f"{model} makes at most {IMAGEN_MAX_N} pictures a request (n={request.n})")
    if request.output_format == "webp":
        raise InvalidRequestError(f"{model} makes png or jpeg pictures, not webp")
    parameters: dict[str, Any] = {"sampleCount": request.n}
    ratio = aspect_ratio(request, model, IMAGEN_RATIOS)
    if ratio is not None:
        parameters["aspectRatio"] = ratio
    if request.guidance is not None:
        parameters["guidanceScale"] = request.guidance
    if request.output_format == "jpeg":
        parameters["outputOptions"] = {"mimeType": "image/jpeg"}
    return {"instances": [{"prompt": request.prompt}], "parameters": parameters}


def images_from_predictions(provider: str, body: dict[str, Any], model: str) -> Images:
    """The pictures of a ``:predict`` answer. Imagen leaves out the pictures its safety
    filters stop (or says why, in ``raiFilteredReason``): none left is a content-policy
    refusal, some left are the answer. The answer names no model version: the id asked for
    (versioned, as ``imagen-4.0-generate-001``) is the one that answered."""
    predictions = body.get("predictions") or []
    images = [
        GeneratedImage(
            data=decoded_image(provider, p.get("bytesBase64Encoded")),
            format=_format(provider, p.get("mimeType")),
        )
        for p in predictions
        if p.get("bytesBase64Encoded")
    ]
    if not images:
        reasons = "; ".join(str(p["raiFilteredReason"]) for p in predictions if p.get("raiFilteredReason"))
        raise _refused(
            provider,
            "made no pictures: its safety filters removed them" + (f" ({reasons})" if reasons else ""),
        )
    return Images(images=images, upstream_model=model)


def _format(provider: str, mime_type: object) -> ImageFormat:
    image_format = _MIME_FORMATS.get(str(mime_type))
    if image_format is None:
        raise ProviderError(provider, f"sent a picture of an unknown type ({mime_type})")
    return image_format


def _refused(provider: str, message: str) -> ProviderError:
    return ProviderError(provider, message, status=400, error_type=_CONTENT_POLICY)
