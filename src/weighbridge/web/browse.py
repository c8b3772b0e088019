"""The page's Browse tabs: compare runs and their reports, the inference log, spend and budgets.

Every route runs behind the gateway's guard and shows what ``Caller.own`` allows: the master key or a
local caller sees everything; a virtual key sees only its own log records, its own spend and
its own budget. Compare runs carry no key (they are made from the CLI), so they are the
operator's alone, and a virtual key is refused them (403).

The figures come from the modules the CLI reads (``store.runs``, ``money.spend``,
``money.budgets``), so the page shows what ``weighbridge runs``, ``spend`` and ``logs`` print.
An amount travels as the exact decimal string ``spend --json`` prints (``cost_usd``) and again,
under ``shown``, as :func:`~weighbridge.money.amounts.format_usd` writes it: the page never
rounds money itself, so it cannot disagree with the CLI by a cent.

Log texts are returned as the store holds them: the request and answer under retention
``full``, their ``sha256:`` digests under ``hash``, nothing under ``none``.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, fields
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from weighbridge.errors import InvalidRequestError
from weighbridge.money import budgets as money_budgets
from weighbridge.money import spend as money_spend
from weighbridge.money.amounts import exact, format_usd
from weighbridge.money.window import Window, parse_day
from weighbridge.server.access import Caller
from weighbridge.server.errors import HTTPFailure, Refused
from weighbridge.store import InferenceRecord
from weighbridge.store import runs as store_runs
from weighbridge.store.database import Connection

if TYPE_CHECKING:
    from weighbridge.server.app import Gateway

#: The report is a document of its own: inline styles and SVG, no script, framed only by the page.
REPORT_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'self'; sandbox"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
#: The log's columns the page shows; the chain's hashes are for ``audit verify``.
LOG_COLUMNS = [f.name for f in fields(InferenceRecord) if f.name not in ("prev_hash", "hash")]
#: The columns the log can be filtered on, each by one exact value.
LOG_FILTERS = ("model", "route", "status")


class Browse:
    """The read-only views of the store that the Runs, Log and Spend tabs draw."""

    def __init__(self, gateway: Gateway) -> None:
        self.store = gateway.client.store
        self.routes = gateway.client.settings.routes

    async def runs(self, request: Request, caller: Caller) -> Response:
        operator_only(caller)
        limit = _count(request, "limit", default=50, most=500)
        with self.store.connection() as db:
            found = store_runs.recent_runs(db, limit)
        listed = []
        for run, answers, errors in found:
            data = {k: v for k, v in asdict(run).items() if k != "cases"}
            listed.append(
                {
                    **data,
                    "file": Path(run.source).name,
                    "prompts": len(run.cases),
                    "answers": answers,
                    "errors": errors,
                    "report": f"/arena/runs/{run.id}/report",
                }
            )
        return JSONResponse({"runs": listed})

    async def report(self, request: Request, caller: Caller) -> Response:
        operator_only(caller)
        html = await asyncio.to_thread(self._render, request.path_params["id"])
        return HTMLResponse(html, headers=REPORT_HEADERS)

    def _render(self, run_id: str) -> str:
        """The report ``weighbridge show RUN --html`` writes, from the store alone."""
        from weighbridge.compare import html_report, results
        from weighbridge.compare.recommend import recommend
        from weighbridge.compare.stats import summarise

        try:
            loaded = results.load(self.store, run_id)
        except InvalidRequestError as exc:
            raise Refused(HTTPFailure(404, exc.message)) from None
        summaries = summarise(loaded)
        return html_report.render(loaded, summaries, recommend(loaded, summaries))

    async def log(self, request: Request, caller: Caller) -> Response:
        """Newest first, ``limit`` at a time; ``before`` (the last id of a page) gives the next
        page, which stays put while new records arrive. The first page also lists the models
        and routes the caller's records name, for the filters."""
        params = request.query_params
        limit = _count(request, "limit", default=50, most=500)
        own = caller.own
        mine: tuple[str, list[str]] = ("key_name = ?", [own]) if own is not None else ("1 = 1", [])
        chosen = {column: params[column] for column in LOG_FILTERS if params.get(column)}
        page = await asyncio.to_thread(self._log_page, mine, chosen, params.get("before"), limit)
        return JSONResponse(page)

    def _log_page(
        self, mine: tuple[str, list[str]], chosen: dict[str, str], before: str | None, limit: int
    ) -> dict[str, Any]:
        where, args = [mine[0], *(f"{column} = ?" for column in chosen)], [*mine[1], *chosen.values()]
        if before:
            where.append("(created_at, rowid) < (SELECT created_at, rowid FROM inferences WHERE id = ?)")
            args.append(before)
        sql = (
            f"SELECT {', '.join(LOG_COLUMNS)} FROM inferences WHERE {' AND '.join(where)} "
            "ORDER BY created_at DESC, rowid DESC LIMIT ?"
        )
        with self.store.connection() as db:
            rows = db.execute(sql, [*args, limit + 1]).fetchall()
            facets = None if before else {name: _distinct(db, column, *mine) for name, column in _FACETS}
        records = [dict(zip(LOG_COLUMNS, row, strict=True)) for row in rows[:limit]]
        for record in records:
            cost = record["cost_usd"]
            record.update(_show({"cost_usd": None if cost is None else str(exact(cost))}))
        after = records[-1]["id"] if len(rows) > limit else None
        return {"records": records, "next": after, "facets": facets}

    async def spend(self, request: Request, caller: Caller) -> Response:
        """``weighbridge spend --by BY --json``'s groups and total; a virtual key's own only."""
        params = request.query_params
        by = cast("money_spend.GroupBy", params.get("by") or "model")
        if by not in money_spend.GROUPS:
            raise InvalidRequestError(f"'by' must be one of {', '.join(money_spend.GROUPS)}")
        since, until = params.get("since"), params.get("until")
        window = Window(
            parse_day(since, "'since'") if since else None, parse_day(until, "'until'") if until else None
        )
        report = money_spend.to_json(await asyncio.to_thread(self._spend, by, window, caller.own))
        for line in [*report["groups"], report["total"]]:
            _show(line)
        return JSONResponse(report)

    def _spend(self, by: money_spend.GroupBy, window: Window, own: str | None) -> money_spend.Spend:
        if own is None:
            return money_spend.spend(self.store, by, window)
        mine = (row for row in money_spend.rows(self.store, window) if row.key_name == own)
        return money_spend.totals(mine, by, window)

    async def budgets(self, request: Request, caller: Caller) -> Response:
        """The budgets ``weighbridge spend`` lists, keys' and routes'; a virtual key sees its
        own key's alone (a route's budget is shared by every key that uses the route)."""
        held = await asyncio.to_thread(money_budgets.budgets, self.store, self.routes)
        own = caller.own
        if own is not None:
            held = [b for b in held if b.kind == "key" and b.name == own]
        shown = [_show(money_budgets.budget_json(b)) for b in held]
        return JSONResponse({"budgets": shown})


#: The filters whose values the first page of the log lists: (name, column).
_FACETS = (("models", "model"), ("routes", "route"))


def _distinct(db: Connection, column: str, where: str, args: list[str]) -> list[str]:
    sql = f"SELECT DISTINCT {column} FROM inferences WHERE {where} AND {column} IS NOT NULL ORDER BY 1"
    return [row[0] for row in db.execute(sql, args)]


def operator_only(
    caller: Caller, refusal: str = "compare runs are the operator's: open them with the master key"
) -> None:
    """Refuse a virtual key (403) what holds no key's data or every key's: the operator's alone,
    like compare runs and the evidence read from them (:mod:`weighbridge.evidence.page`)."""
    if caller.own is not None:
        raise Refused(HTTPFailure(403, refusal))


def _count(request: Request, name: str, *, default: int, most: int) -> int:
    given = request.query_params.get(name)
    if given is None:
        return default
    if not given.isdigit() or not 1 <= int(given) <= most:
        raise InvalidRequestError(f"'{name}' must be a whole number from 1 to {most}")
    return int(given)


def _show(values: dict[str, Any]) -> dict[str, Any]:
    """Add, under ``shown``, each amount (an exact decimal string named ``*_usd*``) as
    :func:`format_usd` writes it for the terminal, so the page never rounds money itself."""
    values["shown"] = {
        name: format_usd(Decimal(value))
        for name, value in values.items()
        if "_usd" in name and isinstance(value, str)
    }
    return values


def browse_routes(gateway: Gateway) -> list[BaseRoute]:
    browse = Browse(gateway)
    guard = gateway.guard
    return [
        Route("/arena/runs", guard("openai", browse.runs), methods=["GET"]),
        Route("/arena/runs/{id}/report", guard("openai", browse.report), methods=["GET"]),
        Route("/arena/log", guard("openai", browse.log), methods=["GET"]),
        Route("/arena/spend", guard("openai", browse.spend), methods=["GET"]),
        Route("/arena/budgets", guard("openai", browse.budgets), methods=["GET"]),
    ]
