"""The single retry owner: exponential backoff with full jitter, Retry-After, a deadline.

Providers never retry; they raise :class:`ProviderError` and this module decides. Retried:
connection failures and the statuses in ``RETRYABLE_STATUSES``. Never retried: any other
4xx, and a stream once a chunk has reached the caller (that would duplicate output).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from weighbridge.errors import ProviderError, StreamInterruptedError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    #: A provider's Retry-After is honoured up to this many seconds.
    max_retry_after_s: float = 30.0
    #: No wait crosses this many seconds after the first attempt started.
    deadline_s: float = 120.0

    def delay(self, attempt: int, error: ProviderError) -> float:
        """Seconds to wait before attempt ``attempt + 1``."""
        if error.retry_after is not None:
            return min(max(error.retry_after, 0.0), self.max_retry_after_s)
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        return random.uniform(0, ceiling)


NO_RETRY = RetryPolicy(max_attempts=1)


async def call(
    attempt_fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Await ``attempt_fn()`` until it succeeds or retrying is no longer allowed."""
    started = time.monotonic()
    attempt = 1
    while True:
        try:
            return await attempt_fn()
        except ProviderError as error:
            wait = _next_wait(policy, attempt, error, started)
            if wait is None:
                raise
        await sleep(wait)
        attempt += 1


async def stream(
    open_fn: Callable[[], AsyncIterator[T]],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncIterator[T]:
    """Items of ``open_fn()``, reopened on retryable errors until the first item is out."""
    started = time.monotonic()
    attempt = 1
    while True:
        source = open_fn()
        delivered = False
        try:
            async for item in source:
                delivered = True
                yield item
            return
        except ProviderError as error:
            if delivered:
                if isinstance(error, StreamInterruptedError):
                    raise
                raise StreamInterruptedError(
                    error.provider,
                    f"stream broke after output had started: {error.provider_message}",
                    status=error.status,
                    error_type=error.error_type,
                ) from error
            wait = _next_wait(policy, attempt, error, started)
            if wait is None:
                raise
        finally:
            await _aclose(source)
        await sleep(wait)
        attempt += 1


def _next_wait(policy: RetryPolicy, attempt: int, error: ProviderError, started: float) -> float | None:
    if not error.retryable or attempt >= policy.max_attempts:
        return None
    wait = policy.delay(attempt, error)
    if time.monotonic() - started + wait > policy.deadline_s:
        return None
    return wait


async def _aclose(source: AsyncIterator[object]) -> None:
    aclose = getattr(source, "aclose", None)
    if aclose is not None:
        await aclose()
