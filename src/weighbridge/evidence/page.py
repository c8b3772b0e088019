"""The page's Evidence tab: ``GET /arena/evidence``, what ``weighbridge evidence`` prints.

The evidence is read from the runs, the votes and the log, a layer above the page's own routes
(it reads the arena's votes through :mod:`weighbridge.web`), so the gateway app mounts this
route beside them. What it reads holds every key's calls, and runs that no key made, so the
evidence is the operator's alone: a virtual key is refused it (403), as it is compare runs.

``?task=T`` keeps one task's rows (an unknown task has none); ``?all=1`` adds the stale rows,
as ``--all`` does. The answer is ``{"rows", "tasks", "empty"}``: each row as ``--json`` prints
it plus, under ``shown``, its figures as the command's table prints them
(:mod:`weighbridge.evidence.figures`); ``tasks``, every task with a row to show, for the filter;
``empty``, what the command says when there is none.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from weighbridge.errors import InvalidRequestError
from weighbridge.evidence import as_json, table
from weighbridge.evidence.figures import none_yet, shown
from weighbridge.server.access import Caller
from weighbridge.web.browse import operator_only

if TYPE_CHECKING:
    from weighbridge.server.app import Gateway

REFUSAL = (
    "the evidence is read from every run, vote and logged call, so it is the operator's: "
    "open it with the master key"
)


class Evidence:
    def __init__(self, gateway: Gateway) -> None:
        self.store = gateway.client.store

    async def rows(self, request: Request, caller: Caller) -> Response:
        operator_only(caller, REFUSAL)
        params = request.query_params
        show_all = params.get("all") or "0"
        if show_all not in ("0", "1"):
            raise InvalidRequestError("'all' must be 0 or 1")
        found = await asyncio.to_thread(self._read, params.get("task") or None, show_all == "1")
        return JSONResponse(found)

    def _read(self, task: str | None, show_all: bool) -> dict[str, Any]:
        """Every task's rows are read, however few are asked for, since the filter lists the
        tasks; the table reads the whole store either way."""
        rows = [row for row in table(self.store) if show_all or row.current]
        return {
            "rows": [{**as_json(row), "shown": shown(row)} for row in rows if task in (None, row.task)],
            "tasks": sorted({row.task for row in rows}),
            "empty": none_yet(task),
        }


def evidence_routes(gateway: Gateway) -> list[BaseRoute]:
    evidence = Evidence(gateway)
    return [Route("/arena/evidence", gateway.guard("openai", evidence.rows), methods=["GET"])]
