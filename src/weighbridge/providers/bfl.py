"""Black Forest Labs' FLUX API: one task per picture, polled until it is ready, then downloaded.

``POST {base_url}/{model}`` (base_url ``https://api.bfl.ai/v1``, the key in ``x-key``) answers
``{"id", "polling_url"}``. ``GET polling_url``, with the key, answers the task's ``status``:
``Pending`` (newer models add other working states) until ``Ready``, when ``result.sample`` is
a signed URL of the picture, valid for about ten minutes. That URL is on a delivery host and
needs no key, so the key is never sent there. ``Request Moderated`` and ``Content Moderated``
are content-policy refusals (400, as OpenAI answers one); ``Error`` and ``Task not found`` are a
failed task (502: the client retries it as a new task). A task not ready within the provider's
``timeout_s`` is a timeout.

n pictures are n tasks, run at once (BFL runs at most 24 of an account's tasks at a time and
answers 429 beyond). With a seed, task i gets seed + i: the n pictures differ, and the same
request makes the same n again.

The translation is pure functions (request -> task bodies, poll answer -> result or error);
the provider only sends, polls and downloads.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from weighbridge.capabilities import Capabilities
from weighbridge.errors import InvalidRequestError, ProviderError, ProviderTimeoutError
from weighbridge.providers.http import parsed_url, retry_after, status_error, transport_error
from weighbridge.providers.images import gather_all, not_for_chat
from weighbridge.targets import Target
from weighbridge.types import ChatRequest, Completion, GeneratedImage, ImageRequest, Images, StreamChunk

#: Poll answers that end a task without a picture: the prompt or the picture was refused.
MODERATED = ("Request Moderated", "Content Moderated")
#: Poll answers that end a task without a picture: it failed, or BFL no longer knows it.
FAILED = ("Error", "Task not found")


@dataclass(frozen=True)
class FluxModel:
    """What a FLUX endpoint takes: ``width`` and ``height``, multiples of ``grid`` within
    ``sides`` (``grid`` None: an ``aspect_ratio`` instead, from 21:9 to 9:21); ``tunable``:
    ``steps`` and ``guidance`` too (the others ignore them, so they are refused here)."""

    grid: int | None
    sides: tuple[int, int] = (256, 1440)
    tunable: bool = False

    def dimensions(self, model: str, width: int, height: int) -> dict[str, Any]:
        """The body fields that ask for a ``width`` x ``height`` picture."""
        if self.grid is None:
            if not 9 / 21 <= width / height <= 21 / 9:
                raise InvalidRequestError(
                    f"{model} makes pictures from 21:9 to 9:21, and {width}x{height} is outside that"
                )
            common = math.gcd(width, height)
            return {"aspect_ratio": f"{width // common}:{height // common}"}
        low, high = self.sides
        if any(side % self.grid or not low <= side <= high for side in (width, height)):
            raise InvalidRequestError(
                f"{model} makes pictures whose width and height are multiples of {self.grid} "
                f"from {low} to {high}, not {width}x{height}"
            )
        return {"width": width, "height": height}


FLUX_1 = FluxModel(grid=32)
FLUX_1_TUNABLE = FluxModel(grid=32, tunable=True)
FLUX_2 = FluxModel(grid=16, sides=(64, 2048))
FLUX_2_TUNABLE = FluxModel(grid=16, sides=(64, 2048), tunable=True)
FLUX_BY_RATIO = FluxModel(grid=None)


def flux_model(model: str) -> FluxModel:
    """What the endpoint ``model`` (``flux-pro-1.1``, ``flux-dev``, ``flux-2-pro``...) takes."""
    if model.startswith("flux-2-"):
        return FLUX_2_TUNABLE if model == "flux-2-flex" else FLUX_2
    if model.startswith(("flux-kontext", "flux-pro-1.1-ultra")):
        return FLUX_BY_RATIO
    return FLUX_1_TUNABLE if model in ("flux-dev", "flux-pro") else FLUX_1


def task_bodies(request: ImageRequest, model: str) -> list[dict[str, Any]]:
    """One task body per picture ``request`` asks for."""
    shape = flux_model(model)
    if request.negative_prompt is not None:
        raise InvalidRequestError(
            f"{model} has no 'negative_prompt' parameter: describe what the picture should show instead"
        )
    for knob in ("steps", "guidance"):
        if getattr(request, knob) is not None and not shape.tunable:
            raise InvalidRequestError(
                f"{model} has no '{knob}' parameter: leave it out (flux-dev, flux-pro, flux-2-flex take it)"
            )
    if request.quality not in (None, "auto"):
        raise InvalidRequestError(f"{model} has no quality setting: leave quality out (or 'auto')")
    if request.output_format == "webp":
        raise InvalidRequestError(f"{model} makes png or jpeg pictures, not webp")
    body: dict[str, Any] = {"prompt": request.prompt, "output_format": request.output_format}
    dims = request.dimensions()
    if dims is not None:
        body.update(shape.dimensions(model, *dims))
    body.update(request.model_dump(include={"steps", "guidance"}, exclude_none=True))
    if request.seed is None:
        return [dict(body) for _ in range(request.n)]
    return [{**body, "seed": (request.seed + i) % 2**32} for i in range(request.n)]


def task_result(provider: str, answer: dict[str, Any]) -> dict[str, Any] | None:
    """The ``result`` of a finished task; None while it works; the error of one that ended
    without a picture."""
    status = answer.get("status")
    if status == "Ready":
        result = answer.get("result")
        if not isinstance(result, dict) or not isinstance(result.get("sample"), str):
            raise ProviderError(provider, "said the task was ready but sent no picture URL")
        return result
    if status in MODERATED:
        raise ProviderError(
            provider,
            f"refused the picture ({status}{_said(answer)})",
            status=400,
            error_type="content_policy_violation",
        )
    if status in FAILED:
        raise ProviderError(
            provider, f"the task failed ({status}{_said(answer)})", status=502, error_type="task_failed"
        )
    return None


def _said(answer: dict[str, Any]) -> str:
    """What BFL said of a task that ended without a picture (``details`` or ``error``)."""
    details = answer.get("details") or answer.get("error")
    if isinstance(details, dict):
        details = "; ".join(
            f"{key}: {', '.join(map(str, value)) if isinstance(value, list) else value}"
            for key, value in details.items()
        )
    return f": {details}" if details else ""


def error_from_response(provider: str, response: httpx.Response) -> ProviderError:
    """A refused request. BFL answers FastAPI's ``{"detail": ...}`` (for a 422, a list of field
    errors, which the shared reader does not take apart) or ``{"error": code, "message"}``;
    anything else is read as every provider's errors are."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return status_error(provider, response, response.content)
    detail = data.get("detail")
    if isinstance(detail, list):
        message = "; ".join(_field_error(item) for item in detail)
    elif isinstance(data.get("message"), str):
        message = data["message"]
    else:
        return status_error(provider, response, response.content)
    waited = data.get("retry_after")
    return ProviderError(
        provider,
        message,
        status=response.status_code,
        error_type=data["error"] if isinstance(data.get("error"), str) else None,
        retry_after=retry_after(response.headers)
        or (float(waited) if isinstance(waited, (int, float)) else None),
    )


def _field_error(item: object) -> str:
    if not isinstance(item, dict):
        return str(item)
    where = ".".join(str(part) for part in item.get("loc") or [] if part != "body")
    return f"{where}: {item.get('msg')}" if where else str(item.get("msg"))


class BFLProvider:
    """The FLUX API over HTTP. Never retries: the client does (a retried request is new tasks)."""

    capabilities = Capabilities(weights="remote", operations=frozenset({"images"}))

    def __init__(self, http: httpx.AsyncClient, *, poll_interval_s: float = 0.5) -> None:
        self._http = http
        self._poll_interval_s = poll_interval_s

    async def complete(self, target: Target, request: ChatRequest) -> Completion:
        raise not_for_chat(target.model_id)

    def stream(self, target: Target, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        raise not_for_chat(target.model_id)

    async def generate_images(self, target: Target, request: ImageRequest) -> Images:
        bodies = task_bodies(request, target.upstream)
        done = await gather_all(self._task(target, body) for body in bodies)
        seeds = [result.get("seed") for _, result in done]
        made_by_size = request.dimensions() is not None and flux_model(target.upstream).grid is not None
        return Images(
            images=[
                GeneratedImage(
                    data=data,
                    format=request.output_format,
                    revised_prompt=result.get("prompt") if result.get("prompt") != request.prompt else None,
                )
                for data, result in done
            ],
            upstream_model=target.upstream,
            # Without a seed, BFL draws one per task: it makes a single picture again.
            seed=request.seed if request.seed is not None else (seeds[0] if len(seeds) == 1 else None),
            size=request.size if made_by_size else None,
        )

    async def _task(self, target: Target, body: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
        """Submit one task, poll it until it ends, download its picture."""
        assert target.provider.base_url is not None
        base = target.provider.base_url.rstrip("/")
        deadline = time.monotonic() + target.provider.timeout_s
        task = await self._json(target, "POST", f"{base}/{target.upstream}", body)
        if not (task.get("polling_url") or task.get("id")):
            raise ProviderError(target.provider_name, "answered without a task id or polling URL")
        polling_url = task.get("polling_url") or f"{base}/get_result?id={task['id']}"
        while (
            result := task_result(target.provider_name, await self._json(target, "GET", polling_url))
        ) is None:
            if time.monotonic() + self._poll_interval_s > deadline:
                raise ProviderTimeoutError(
                    target.provider_name,
                    f"task {task.get('id')} was not ready within {target.provider.timeout_s:g} s",
                )
            await asyncio.sleep(self._poll_interval_s)
        response = await self._send(target, "GET", result["sample"], headers={})
        if not response.content:
            raise ProviderError(target.provider_name, "sent an empty picture")
        return response.content, result

    async def _json(
        self, target: Target, method: str, url: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        headers = {**target.provider.headers, "accept": "application/json"}
        if target.api_key:
            headers["x-key"] = target.api_key
        response = await self._send(target, method, url, headers=headers, body=body)
        try:
            data = response.json()
        except ValueError:
            raise ProviderError(
                target.provider_name, "answered with a body that is not JSON", status=response.status_code
            ) from None
        if not isinstance(data, dict):
            raise ProviderError(target.provider_name, "answered with JSON that is not an object")
        return data

    async def _send(
        self,
        target: Target,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        body: dict[str, Any] | None = None,
    ) -> httpx.Response:
        try:
            response = await self._http.request(
                method, parsed_url(url), json=body, headers=headers, timeout=target.provider.timeout_s
            )
        except httpx.HTTPError as exc:
            raise transport_error(target.provider_name, exc) from None
        if response.status_code >= 400:
            raise error_from_response(target.provider_name, response)
        return response

    async def aclose(self) -> None:
        return None
