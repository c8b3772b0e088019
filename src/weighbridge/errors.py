"""The one error tree of weighbridge.

Everything that can go wrong for a user is a :class:`WeighbridgeError`, with a one-line
message that says what to do next. The CLI turns it into that line and exit code 2; the
gateway (later) turns it into an OpenAI- or Anthropic-shaped body. Nothing else should
reach a user.

    WeighbridgeError
    ├── ConfigError             the config file (or a catalog entry) is malformed
    ├── UnknownModelError       no such model id; suggests close matches
    ├── MissingKeyError         the provider's API key variable is unset
    ├── InvalidRequestError     request parameters rejected before anything is sent
    ├── ModelLoadError          a local weight file is missing, unreadable or not a valid GGUF
    ├── NoRouteError            no target of a route can take the request now (each says why)
    └── ProviderError           the provider answered with an error, or could not be reached
        ├── ProviderTimeoutError     no answer in time (httpx's TimeoutException)
        ├── ProviderConnectionError  unreachable, or the connection closed mid-answer
        └── StreamInterruptedError   a stream broke after output had started (never retried)

Provider errors keep the HTTP status and the provider's own message, so a caller can tell a
rate limit from a bad request without parsing text. Messages never contain secrets: the
providers build them from response bodies and our own words, never from request headers.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

#: Statuses worth another attempt: timeouts, conflicts, rate limits, server errors and
#: Anthropic's 529 "overloaded". Every other 4xx is the caller's mistake and never retried.
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


class WeighbridgeError(Exception):
    """Base class: a problem a user can act on, described in one line."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(WeighbridgeError):
    """The user's config file, or a catalog entry, cannot be used as written."""


class StoreUnavailableError(WeighbridgeError):
    """The database behind the log, keys and budgets cannot be reached (a PostgreSQL server
    restarting, a pool with no free connection within its wait). Nothing was answered
    unlogged: the request fails whole, and asking again once the database is back succeeds."""


class UnknownModelError(WeighbridgeError):
    """A model id that neither the catalog nor the user's config defines."""

    def __init__(self, model: str, known: Iterable[str] = ()) -> None:
        close = difflib.get_close_matches(model, list(known), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        super().__init__(f"unknown model '{model}'.{hint} Run 'weighbridge models' to list the models.")
        self.model = model


class MissingKeyError(WeighbridgeError):
    """The provider needs an API key and its environment variable is unset."""

    def __init__(self, model: str, provider: str, env_var: str) -> None:
        super().__init__(
            f"model '{model}' needs an API key for provider '{provider}': "
            f"set the environment variable {env_var}."
        )
        self.env_var = env_var


class InvalidRequestError(WeighbridgeError):
    """The request is malformed (bad parameter, empty messages...)."""


class ModelLoadError(WeighbridgeError):
    """A local model's weight file cannot be loaded."""


class NoRouteError(WeighbridgeError):
    """No target of a route can take this request now; the message lists why, per target."""


class ProviderError(WeighbridgeError):
    """The provider returned an error, or could not be reached.

    ``status`` is the HTTP status (``None`` when no response came back: connection refused,
    timeout, a connection cut); ``provider_message`` is the provider's own words;
    ``retry_after`` is the delay in seconds the provider asked for, if any.
    """

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        status: int | None = None,
        error_type: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        where = f"{provider} returned {status}" if status is not None else f"{provider} failed"
        super().__init__(f"{where}: {message}")
        self.provider = provider
        self.provider_message = message
        self.status = status
        self.error_type = error_type
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """Connection failures and the statuses in RETRYABLE_STATUSES are worth retrying."""
        return self.status is None or self.status in RETRYABLE_STATUSES


class ProviderTimeoutError(ProviderError):
    """No answer came within the provider's timeout (to connect, to read, or for a pooled
    connection): what httpx raises as a ``TimeoutException``. Retryable; a gateway answers 504."""


class ProviderConnectionError(ProviderError):
    """The provider could not be reached, or closed the connection before the answer was
    complete (httpx's ``ConnectError``, ``RemoteProtocolError``, ``ReadError``). Retryable."""


class StreamInterruptedError(ProviderError):
    """A stream broke after output had reached the caller; retrying would duplicate output."""

    @property
    def retryable(self) -> bool:
        return False
