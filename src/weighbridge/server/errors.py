"""Every failure as a status and a body in the caller's protocol, decided in one place.

The status says whose problem it is. A client mistake is a 4xx the caller can act on (an
unknown model is 404, a bad parameter 400, a missing or wrong key 401). An upstream failure is
502, 503 or 504, except where the upstream's status is the caller's to act on: its 400 (the
prompt is too long for the model) passes through, and its 429 passes through with Retry-After.
An upstream's 401 or 403 is about *our* credentials, which the caller cannot fix, so it is 502.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from weighbridge.errors import (
    ConfigError,
    InvalidRequestError,
    MissingKeyError,
    ModelLoadError,
    NoRouteError,
    ProviderError,
    ProviderTimeoutError,
    StoreUnavailableError,
    UnknownModelError,
    WeighbridgeError,
)

Protocol = Literal["openai", "anthropic"]

#: Anthropic's documented error type for each status it uses.
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "api_error",
    529: "overloaded_error",
}
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


@dataclass(frozen=True)
class HTTPFailure:
    """A failure ready to send: status, message, and optional code and Retry-After."""

    status: int
    message: str
    code: str | None = None
    retry_after: float | None = None
    param: str | None = None

    def headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"retry-after": str(max(1, round(self.retry_after)))}

    def body(self, protocol: Protocol) -> dict[str, Any]:
        if protocol == "anthropic":
            kind = _ANTHROPIC_TYPES.get(self.status, "api_error")
            return {"type": "error", "error": {"type": kind, "message": self.message}}
        kind = _OPENAI_TYPES.get(
            self.status, "server_error" if self.status >= 500 else "invalid_request_error"
        )
        return {"error": {"message": self.message, "type": kind, "param": self.param, "code": self.code}}


class Refused(Exception):
    """Raised by the gateway's own checks (keys, limits, body size) with the failure to send."""

    def __init__(self, failure: HTTPFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def failure_for(exc: WeighbridgeError) -> HTTPFailure:
    """The HTTP failure an error becomes (the mapping this module's docstring argues for)."""
    if isinstance(exc, UnknownModelError):
        return HTTPFailure(404, exc.message, code="model_not_found", param="model")
    if isinstance(exc, InvalidRequestError):
        return HTTPFailure(400, exc.message, code="invalid_request")
    if isinstance(exc, MissingKeyError):
        return HTTPFailure(503, f"{exc.message} (on the gateway's host)", code="model_unavailable")
    if isinstance(exc, (ModelLoadError, NoRouteError)):
        return HTTPFailure(503, exc.message, code="model_unavailable")
    if isinstance(exc, ProviderError):
        return _upstream(exc)
    if isinstance(exc, StoreUnavailableError):
        return HTTPFailure(503, exc.message, code="store_unavailable", retry_after=1.0)
    if isinstance(exc, ConfigError):
        return HTTPFailure(500, exc.message, code="gateway_misconfigured")
    return HTTPFailure(500, exc.message)


def _upstream(exc: ProviderError) -> HTTPFailure:
    status = exc.status
    if status == 429:
        return HTTPFailure(429, exc.message, code="upstream_rate_limited", retry_after=exc.retry_after)
    if status in (400, 413, 422):
        return HTTPFailure(status, exc.message, code="upstream_rejected")
    if isinstance(exc, ProviderTimeoutError):
        return HTTPFailure(504, exc.message, code="upstream_timeout")
    if status in (503, 529):
        return HTTPFailure(503, exc.message, code="upstream_overloaded", retry_after=exc.retry_after)
    return HTTPFailure(502, exc.message, code="upstream_error")
