"""The retry owner's rules: what is retried, how long it waits, when it stops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from weighbridge.errors import ProviderError, StreamInterruptedError
from weighbridge.providers import retry

POLICY = retry.RetryPolicy(max_attempts=4, base_delay_s=0.5, max_delay_s=8, max_retry_after_s=30)


def run_call(errors: list[ProviderError | None]) -> tuple[object, list[float], int]:
    waits: list[float] = []
    calls = 0

    async def attempt() -> str:
        nonlocal calls
        error = errors[calls]
        calls += 1
        if error is not None:
            raise error
        return "ok"

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def go() -> object:
        try:
            return await retry.call(attempt, POLICY, sleep=sleep)
        except ProviderError as exc:
            return exc

    return asyncio.run(go()), waits, calls


@pytest.mark.parametrize("status", [None, 408, 409, 429, 500, 502, 503, 504, 529])
def test_retryable_failures_are_retried(status: int | None) -> None:
    result, waits, calls = run_call([ProviderError("p", "x", status=status), None])
    assert result == "ok" and calls == 2 and 0 <= waits[0] <= 0.5


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_client_errors_are_not_retried(status: int) -> None:
    result, waits, calls = run_call([ProviderError("p", "x", status=status), None])
    assert isinstance(result, ProviderError) and calls == 1 and waits == []


def test_retry_after_is_honoured_and_capped() -> None:
    _, waits, _ = run_call(
        [
            ProviderError("p", "x", status=429, retry_after=3),
            ProviderError("p", "x", status=429, retry_after=999),
            None,
        ]
    )
    assert waits == [3, 30]


def test_backoff_grows_and_attempts_are_bounded() -> None:
    result, waits, calls = run_call([ProviderError("p", "x", status=503)] * 5)
    assert isinstance(result, ProviderError) and calls == 4 and len(waits) == 3
    assert waits[0] <= 0.5 and waits[1] <= 1 and waits[2] <= 2


def test_deadline_stops_waiting() -> None:
    policy = retry.RetryPolicy(deadline_s=1.0)

    async def attempt() -> str:
        raise ProviderError("p", "slow down", status=429, retry_after=5)

    async def sleep(seconds: float) -> None:  # pragma: no cover - must not be reached
        raise AssertionError("waited past the deadline")

    with pytest.raises(ProviderError):
        asyncio.run(retry.call(attempt, policy, sleep=sleep))


def test_stream_is_retried_only_before_output() -> None:
    opened = 0

    async def source() -> AsyncIterator[str]:
        nonlocal opened
        opened += 1
        if opened == 1:
            raise ProviderError("p", "refused", status=503)
        yield "a"
        raise ProviderError("p", "cut")

    async def sleep(seconds: float) -> None:
        return None

    async def go() -> list[str]:
        got = []
        async for item in retry.stream(source, POLICY, sleep=sleep):
            got.append(item)
        return got

    with pytest.raises(StreamInterruptedError):
        asyncio.run(go())
    assert opened == 2
