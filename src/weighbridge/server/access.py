"""Who is calling, and what they may do: the master key, virtual keys, rate limits, budgets.

Keys are compared by digest; the presented key is never stored, logged or echoed. A request
with a virtual key is checked in this order: the key is live (401), the model is one it may
call (403), it is within its requests per minute (429 with Retry-After), and its budget can
hold the request's worst-case cost (429, ``insufficient_quota``), which stays held until the
request ends (what it really cost is charged as it is logged). A route with a budget is held
to it the same way, whoever calls.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from starlette.requests import Request

from weighbridge.hashing import digest
from weighbridge.routing.routes import Route
from weighbridge.server.errors import HTTPFailure, Refused
from weighbridge.store import Store, ledger, rates, route_budgets
from weighbridge.store import keys as store_keys


@dataclass(frozen=True)
class Caller:
    """The identity a request runs under: a key's name (``master``, ``local``) and its limits."""

    name: str
    key: store_keys.ApiKey | None = None

    @property
    def own(self) -> str | None:
        """Whose records this caller may read: a virtual key its own (by key name), the master
        key or a local caller everyone's (``None``)."""
        return self.name if self.key is not None else None


@dataclass(frozen=True)
class Hold:
    """What a request holds against budgets until it ends: its worst-case cost, on its key and
    on its route where they have budgets (the ids of the holds in the store)."""

    holds: tuple[str, ...] = ()
    #: Less than the request's worst case, when only that much fitted: the route's targets that
    #: could cost more are then left out of its plan. None: the whole worst case is held.
    within_usd: float | None = None


NOTHING_HELD = Hold()


class Access:
    def __init__(
        self, store: Store, master_key: str | None, routes: Mapping[str, Route] | None = None
    ) -> None:
        self._store = store
        self._routes = routes or {}
        self._master = digest(master_key) if master_key else None

    async def identify(self, presented: str | None) -> Caller:
        """The caller behind ``presented``; without a master key, keyless callers are local."""
        if presented and (self._master or presented.startswith(store_keys.KEY_PREFIX)):
            caller = await self.identify_digest(digest(presented))
            if caller is not None:
                return caller
        elif self._master is None:
            return Caller("local")  # loopback-only and open: any other token is no credential
        elif not presented:
            raise Refused(
                HTTPFailure(401, "no API key: send it as 'Authorization: Bearer KEY' or 'x-api-key'")
            )
        raise invalid_key()

    async def identify_digest(self, key_digest: str) -> Caller | None:
        """The master key or the live virtual key with this digest (a page session's key)."""
        if self._master and secrets.compare_digest(key_digest, self._master):
            return Caller("master")
        key = await self._store.offload(self._find, key_digest)
        return Caller(key.name, key) if key is not None else None

    def _find(self, key_digest: str) -> store_keys.ApiKey | None:
        with self._store.connection() as db:
            return store_keys.find_digest(db, key_digest)

    async def admit(self, caller: Caller, model: str) -> None:
        """Refuse a model the key may not call, or a request over its rate."""
        key = caller.key
        if key is None:
            return
        if not key.allows(model):
            raise Refused(
                HTTPFailure(403, f"key '{key.name}' may not call model '{model}'", code="model_not_allowed")
            )
        if key.rpm is not None:
            wait = await self._store.offload(self._count, key.name, key.rpm)
            if wait is not None:
                raise Refused(
                    HTTPFailure(
                        429,
                        f"key '{key.name}' is limited to {key.rpm} requests per minute",
                        code="rate_limit_exceeded",
                        retry_after=wait,
                    )
                )

    def _count(self, name: str, rpm: int) -> float | None:
        with self._store.connection() as db:
            return rates.admit(db, name, rpm)

    async def reserve(
        self,
        caller: Caller,
        worst_case: Callable[[], float],
        model: str | None = None,
        *,
        per_target: Callable[[], Iterable[float]] | None = None,
    ) -> Hold:
        """Hold the request's worst-case cost against its key's budget and, when ``model`` is a
        route with a budget, the route's; both or neither. The estimate is only worked out when
        there is a budget to hold it against. A budget that looks full is looked at again once
        the holds of requests that never ended (a replica killed mid-request) are released.

        ``per_target``: a route's worst case on each of its targets. When the whole does not
        fit, the most that does is held instead, and the targets over it are left out."""
        key = caller.key if caller.key is not None and caller.key.budget_usd is not None else None
        route = self._routes.get(model) if model is not None else None
        route_budget = route.budget_usd if route is not None else None
        if key is None and route_budget is None:
            return NOTHING_HELD
        wanted: list[tuple[ledger.Ledger, str, float | None]] = []
        if key is not None:
            wanted.append((ledger.KEYS, key.name, None))
        if route_budget is not None:
            wanted.append((ledger.ROUTES, str(model), route_budget))
        worst = worst_case()
        smaller = sorted({usd for usd in per_target() if usd < worst}, reverse=True) if per_target else []
        return await self._store.offload(self._hold, wanted, [worst, *smaller])

    def _hold(self, wanted: list[tuple[ledger.Ledger, str, float | None]], amounts: list[float]) -> Hold:
        """Hold the first of ``amounts`` (largest first) that every budget in ``wanted`` can."""
        refused: Refused | None = None
        for usd in amounts:
            try:
                holds = self._hold_all(wanted, usd)
            except Refused as exc:
                refused = refused or exc
                continue
            return Hold(holds, None if usd == amounts[0] else usd)
        assert refused is not None
        raise refused

    def _hold_all(self, wanted: list[tuple[ledger.Ledger, str, float | None]], usd: float) -> tuple[str, ...]:
        with self._store.connection() as db:
            holds: list[str] = []
            for book, holder, budget in wanted:
                if book is ledger.ROUTES:
                    route_budgets.open_row(db, holder)
                hold = book.reserve(db, holder, usd, budget)
                if hold is None and ledger.release_stale(db, self._store.options.reservation_timeout_s):
                    hold = book.reserve(db, holder, usd, budget)
                if hold is None:
                    ledger.release(db, holds)
                    raise _over_budget(f"{book.name} '{holder}'", usd)
                holds.append(hold)
        return tuple(holds)

    async def release(self, held: Hold) -> None:
        """End what ``held`` reserved. What the request cost was charged as it was logged (a
        key's spend is counted whether or not it has a budget: ``weighbridge keys list``). On a
        database server the release runs on a thread, which finishes it even if the request is
        cancelled meanwhile."""
        if held.holds:
            await self._store.offload(self._release, list(held.holds))

    def _release(self, holds: list[str]) -> None:
        with self._store.connection() as db:
            ledger.release(db, holds)


def invalid_key() -> Refused:
    """What a key that is no (longer a) live key gets, presented or riding a page session."""
    return Refused(HTTPFailure(401, "invalid API key", code="invalid_api_key"))


def _over_budget(what: str, worst_usd: float) -> Refused:
    return Refused(
        HTTPFailure(
            429,
            f"{what} has not enough budget left for this request "
            f"(it could cost up to ${worst_usd:.6f}; lower max_tokens or raise the budget)",
            code="insufficient_quota",
        )
    )


def presented_key(request: Request) -> str | None:
    """The key a request carries in a header, as the OpenAI or the Anthropic SDK sends it."""
    if key := request.headers.get("x-api-key"):
        return key
    value = request.headers.get("authorization", "")
    return value[7:].strip() or None if value.lower().startswith("bearer ") else None
