"""The HTTP edge shared by the HTTP providers: send, map failures, read SSE.

Every failure becomes a :class:`ProviderError` carrying the status, the provider's own
message (from the ``{"error": {"message": ...}}`` body that OpenAI, Anthropic and Gemini all
use) and Retry-After. Request headers, where the keys live, never enter a message.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import AsyncGenerator
from functools import lru_cache
from typing import Any

import httpx

from weighbridge.errors import ProviderConnectionError, ProviderError, ProviderTimeoutError
from weighbridge.providers.sse import Event, aiter_events


async def post_json(
    http: httpx.AsyncClient,
    provider: str,
    url: str,
    body: dict[str, Any],
    *,
    headers: dict[str, str],
    timeout: float,
) -> dict[str, Any]:
    """POST ``body`` and return the JSON answer, or raise the mapped error."""
    try:
        response = await http.post(parsed_url(url), json=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise transport_error(provider, exc) from None
    if response.status_code >= 400:
        raise status_error(provider, response, response.content)
    try:
        data = response.json()
    except ValueError:
        raise ProviderError(
            provider, "answered with a body that is not JSON", status=response.status_code
        ) from None
    if not isinstance(data, dict):
        raise ProviderError(provider, "answered with JSON that is not an object")
    return data


async def post_sse(
    http: httpx.AsyncClient,
    provider: str,
    url: str,
    body: dict[str, Any],
    *,
    headers: dict[str, str],
    timeout: float,
) -> AsyncGenerator[Event, None]:
    """POST ``body`` and yield the server-sent events of the answer."""
    request = http.build_request("POST", parsed_url(url), json=body, headers=headers, timeout=timeout)
    try:
        response = await http.send(request, stream=True)
    except httpx.HTTPError as exc:
        raise transport_error(provider, exc) from None
    try:
        if response.status_code >= 400:
            content = await response.aread()
            raise status_error(provider, response, content)
        async for event in aiter_events(response.aiter_bytes()):
            yield event
    except httpx.HTTPError as exc:
        raise transport_error(provider, exc) from None
    finally:
        await response.aclose()


@lru_cache(maxsize=256)
def parsed_url(url: str) -> httpx.URL:
    """``url`` parsed once: a provider calls the same few URLs over and over, and httpx parses a
    string URL anew on every request (a sizeable share of its cost per request)."""
    return httpx.URL(url)


def event_json(provider: str, event: Event) -> dict[str, Any]:
    """The JSON object an SSE event carries."""
    try:
        data = json.loads(event.data)
    except ValueError:
        raise ProviderError(provider, f"sent a stream event that is not JSON: {event.data[:80]!r}") from None
    if not isinstance(data, dict):
        raise ProviderError(provider, "sent a stream event that is not a JSON object")
    return data


def transport_error(provider: str, exc: httpx.HTTPError) -> ProviderError:
    """The typed error for a failure below HTTP: callers branch on the class, never on words."""
    if isinstance(exc, httpx.TimeoutException):
        return ProviderTimeoutError(provider, f"timed out ({type(exc).__name__})")
    if isinstance(exc, httpx.ConnectError):
        return ProviderConnectionError(provider, "could not connect")
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        return ProviderConnectionError(provider, "connection closed before the answer was complete")
    return ProviderError(provider, f"transport error ({type(exc).__name__})")


def status_error(provider: str, response: httpx.Response, content: bytes) -> ProviderError:
    message, error_type = _error_body(content)
    return ProviderError(
        provider,
        message or response.reason_phrase or "error",
        status=response.status_code,
        error_type=error_type,
        retry_after=retry_after(response.headers),
    )


def _error_body(content: bytes) -> tuple[str | None, str | None]:
    try:
        data = json.loads(content)
    except ValueError:
        text = content.decode("utf-8", "replace").strip()
        return (text[:300] or None), None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        kind = error.get("type") or error.get("status") or error.get("code")
        return str(error.get("message") or ""), (str(kind) if kind is not None else None)
    if isinstance(error, str):
        return error, None
    if isinstance(data, dict) and isinstance(data.get("detail"), str):
        return data["detail"], None
    return None, None


def retry_after(headers: httpx.Headers) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    if "retry-after-ms" in headers:
        try:
            return float(headers["retry-after-ms"]) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)
