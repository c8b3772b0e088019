"""One attempt at one target, the same steps for whole answers and streams alike: claim the
target (a routed call to a half-open circuit must win its one probe), hash the weights it
runs, count it in flight, call the provider with retries, settle the target's breaker, and
record the outcome. The client and its streams only say how to call and how to meter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Generic, TypeVar

from weighbridge.call import Answer, Call, cancelled, scrubbed
from weighbridge.config import Settings
from weighbridge.errors import NoRouteError, ProviderError, WeighbridgeError
from weighbridge.providers import retry
from weighbridge.providers.base import Provider
from weighbridge.providers.pool import ProviderPool
from weighbridge.routing.load import MACHINE, Share
from weighbridge.routing.plan import breaker_key
from weighbridge.routing.planner import Planner
from weighbridge.routing.routes import failure_class
from weighbridge.store.recorder import Recorder

A = TypeVar("A", bound=Answer)
X = TypeVar("X")


class Attempt(Generic[A]):
    """One attempt as the code calling the provider sees it."""

    def __init__(self, call: Call[Any], provider: Provider) -> None:
        self.call = call
        self.provider = provider
        #: Builds the answer, measured and priced, from what has come back so far; set once
        #: something has (a stream sets it before its first chunk).
        self.meter: Callable[[], A] | None = None
        #: Whether any of the answer reached the caller (after that, a failure is incomplete).
        self.started = False
        #: The metered answer once the attempt is over: whole, or as far as it got.
        self.answer: A | None = None


class Attempts:
    """The attempt pipeline, over the client's providers, routing state and recorder."""

    def __init__(
        self,
        settings: Settings,
        providers: ProviderPool,
        planner: Planner,
        recorder: Recorder,
        retry_policy: retry.RetryPolicy,
    ) -> None:
        self.settings = settings
        self.providers = providers
        self.planner = planner
        self.recorder = recorder
        self.retry_policy = retry_policy

    async def whole(
        self,
        call: Call[Any],
        send: Callable[[Provider], Awaitable[X]],
        meter: Callable[[X], A],
    ) -> A:
        """One whole answer: ``send`` is retried by the policy, ``meter`` prices what it got."""
        async with self.attempt(call) as attempt:
            got = await retry.call(lambda: send(attempt.provider), self.retry_policy)
            attempt.meter = lambda: meter(got)
        answer: A | None = attempt.answer
        assert answer is not None
        return answer

    @asynccontextmanager
    async def attempt(self, call: Call[Any]) -> AsyncIterator[Attempt[Any]]:
        """The steps around the provider call made inside the block. A provider error leaves
        it scrubbed of the target's key; a caller that goes away is recorded as incomplete, and
        any other failure as an error."""
        if call.route is not None and not self.planner.breakers.allow(breaker_key(call.target)):
            raise NoRouteError(f"{call.target.model_id}: circuit open after repeated failures")
        attempt: Attempt[Any] = Attempt(call, self.providers.get(call.target))
        call.start()
        await call.hash_weights(self.recorder.store)
        try:
            with self._occupying(call):
                yield attempt
        except WeighbridgeError as exc:
            self._settle(call, exc)
            error = scrubbed(exc, call.target)
            self._failed(attempt, "incomplete" if attempt.started else "error", error)
            raise error from None
        except Exception as exc:  # a bug below: logged, with no more than its type (no secrets)
            self._failed(attempt, "error", ProviderError(call.target.provider_name, type(exc).__name__))
            raise
        except BaseException:  # cancelled, closed or interrupted: the caller went away
            self._failed(attempt, "incomplete", cancelled(call.target))
            raise
        self._settle(call, None)
        attempt.answer = attempt.meter() if attempt.meter is not None else None
        await self.recorder.arecord(call.record("ok", response=attempt.answer))

    def _failed(self, attempt: Attempt[Any], status: str, error: WeighbridgeError) -> None:
        attempt.answer = attempt.meter() if attempt.meter is not None else None
        self.recorder.record(attempt.call.record(status, response=attempt.answer, error=error), error)

    @contextmanager
    def _occupying(self, call: Call[Any]) -> Iterator[None]:
        """Count ``call`` in flight for its target (least-outstanding routing) and, for a local
        model, for this machine, charging the call its share of the machine's time."""
        in_flight = self.planner.in_flight
        with in_flight.held(call.target.model_id):
            if not call.target.runs_locally:
                yield
                return
            share = Share()
            try:
                with in_flight.held(MACHINE) as share:
                    yield
            finally:
                call.machine_s = share.seconds

    def _settle(self, call: Call[Any], error: WeighbridgeError | None) -> None:
        key = breaker_key(call.target)
        if error is None:
            self.planner.breakers.success(key)
        elif failure_class(error) is not None:
            self.planner.breakers.failure(key)
