"""The page and its JSON routes, mounted by the gateway (``Gateway.app``).

``/`` and ``/static/`` are the page itself: no secrets, so no key. The ``/arena/`` routes run
behind the gateway's own guard, so they see the caller the chat routes see: a virtual key is
shown only the models it may call and only its own votes. The answers themselves stream
through ``/v1/chat/completions`` like any client's, and an image pair's pictures come from
``/v1/images/generations``; in the blind arena the page only ever knows a pair's two models by
aliases (``blind:<pair>:a``), which the gateway resolves on both, so no response, header or
stream chunk names them before the vote. ``/session`` turns a key typed into the page into an
HttpOnly session cookie (server/sessions.py).
"""

from __future__ import annotations

import random
import secrets
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from weighbridge.errors import InvalidRequestError, UnknownModelError
from weighbridge.server.access import Caller, presented_key
from weighbridge.server.body import read_json
from weighbridge.server.errors import HTTPFailure, Refused
from weighbridge.server.sessions import clear_cookie, set_cookie
from weighbridge.targets import availability
from weighbridge.web import pairing, ratings, votes
from weighbridge.web.browse import browse_routes

if TYPE_CHECKING:
    from weighbridge.server.app import Gateway

STATIC = Path(__file__).parent / "static"
#: The page and everything it loads come from this server alone; model text never runs.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "frame-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
MAX_TASK_CHARS = 64
BLIND = "blind:"


class Arena:
    """What the arena remembers between requests. The pairs handed out and not yet voted on are
    in the store (any replica takes the vote); the counts that balance the draw are this
    replica's own, seeded from the stored votes."""

    def __init__(self, gateway: Gateway, seed: int | None = None) -> None:
        self.gateway = gateway
        self.rng = random.Random(seed)
        self.recent: deque[tuple[str, str]] = deque(maxlen=64)
        self.shown: dict[str, int] = {}
        self._loaded = False

    def _db_counts(self) -> None:
        if self._loaded:
            return
        with self.gateway.client.store.connection() as db:
            for stored in votes.load(db):
                for model in (stored.model_a, stored.model_b):
                    self.shown[model] = self.shown.get(model, 0) + 1
                self.recent.append(pairing.key(stored.model_a, stored.model_b))
        self._loaded = True

    def catalog(self, caller: Caller) -> list[dict[str, Any]]:
        settings = self.gateway.client.settings
        out = []
        for model_id, entry in settings.catalog.models.items():
            if entry.modality not in votes.MODALITIES or (
                caller.key is not None and not caller.key.allows(model_id)
            ):
                continue
            ok, why = availability(settings, model_id)
            out.append(
                {
                    "id": model_id,
                    "name": entry.name or model_id,
                    "modality": entry.modality,
                    "vendor": entry.vendor,
                    "runnable": ok,
                    "served_by": why if ok else None,
                    "reason": None if ok else why,
                    "local": bool(entry.open_weights),
                }
            )
        out.sort(key=lambda m: (not m["runnable"], m["id"]))
        return out

    async def models(self, request: Request, caller: Caller) -> Response:
        return JSONResponse({"models": self.catalog(caller), "caller": caller.name})

    async def pair(self, request: Request, caller: Caller) -> Response:
        body = await read_json(request)
        pool = body.get("pool") if isinstance(body, dict) else None
        if not isinstance(pool, list) or not all(isinstance(m, str) for m in pool):
            raise InvalidRequestError("'pool' must be a list of model names")
        mode = _modality(body.get("mode"))
        listed = [m for m in self.catalog(caller) if m["id"] in pool]
        other = [m["id"] for m in listed if m["modality"] != mode]
        if other:
            raise InvalidRequestError(
                f"the {mode} arena pairs {mode} models only; not {mode} models: {', '.join(other)}"
            )
        usable = sorted(m["id"] for m in listed if m["runnable"])
        if len(usable) < 2:
            raise InvalidRequestError(
                f"the {mode} arena needs at least two runnable {mode} models in the pool; "
                f"runnable here: {', '.join(usable) or 'none'}"
            )
        self._db_counts()
        window = pairing.recent_window(len(usable))
        recent = list(self.recent)[-window:] if window else []
        a, b = pairing.choose_pair(usable, self.shown, recent, self.rng)
        pair_id = secrets.token_hex(8)
        with self.gateway.client.store.connection() as db:
            votes.open_pair(db, pair_id, a, b, caller.name)
        for model in (a, b):
            self.shown[model] = self.shown.get(model, 0) + 1
        self.recent.append(pairing.key(a, b))
        return JSONResponse({"pair": pair_id, "a": f"{BLIND}{pair_id}:a", "b": f"{BLIND}{pair_id}:b"})

    def unblind(self, model: str, caller: Caller, modality: str = "chat") -> str | None:
        """The model behind a blind alias, for the caller its pair was drawn for; ``None`` when
        ``model`` is no alias. A stale or someone else's alias is an unknown model, and one asked
        for the other modality is refused without naming its model (pictures from a chat model
        would give the pair away)."""
        if not model.startswith(BLIND):
            return None
        pair_id, _, side = model.removeprefix(BLIND).partition(":")
        with self.gateway.client.store.connection() as db:
            pending = votes.find_pair(db, pair_id, caller.name)
        if pending is None or side not in ("a", "b"):
            raise UnknownModelError(model)
        found = pending[0] if side == "a" else pending[1]
        if (kind := self._modality_of(found)) != modality:
            raise InvalidRequestError(f"{model} is from the {kind} arena: it answers {kind} requests only")
        return found

    async def vote(self, request: Request, caller: Caller) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise InvalidRequestError("the vote must be a JSON object")
        pair_id, outcome = body.get("pair"), body.get("outcome")
        task = str(body.get("task") or "general").strip().lower()[:MAX_TASK_CHARS] or "general"
        prompt = body.get("prompt")
        if outcome not in ratings.OUTCOMES:
            raise InvalidRequestError(f"'outcome' must be one of {', '.join(ratings.OUTCOMES)}")
        if not isinstance(prompt, str):
            raise InvalidRequestError("'prompt' must be the prompt's text")
        if not isinstance(pair_id, str):
            raise InvalidRequestError("'pair' must be the id /arena/pair gave")
        used = InvalidRequestError("unknown or already used arena pair")
        ids: list[str | None] = []
        with self.gateway.client.store.connection() as db, db.transaction():
            pending = votes.find_pair(db, pair_id, caller.name)
            if pending is None:
                raise used
            a, b = pending
            for side, model in (("inference_a", a), ("inference_b", b)):
                given = body.get(side)
                if given is None:
                    ids.append(None)
                    continue
                logged = votes.inference(db, _log_id(given))
                if logged is None or logged["model"] != model or (logged["key_name"] or "") != caller.name:
                    raise InvalidRequestError(f"'{side}' is not an answer from this pair")
                ids.append(logged["id"])
            if None in ids and self._modality_of(a) == "image":  # the log is what files it as one
                raise InvalidRequestError("an image vote needs 'inference_a' and 'inference_b'")
            if not votes.take_pair(db, pair_id):
                raise used
            vote_id = votes.record(
                db,
                task=task,
                prompt_sha256=votes.prompt_hash(prompt),
                model_a=a,
                model_b=b,
                inference_a=ids[0],
                inference_b=ids[1],
                outcome=outcome,
                key_name=caller.name,
            )
        return JSONResponse({"vote": vote_id, "a": a, "b": b, "outcome": outcome, "task": task})

    async def leaderboard(self, request: Request, caller: Caller) -> Response:
        task = request.query_params.get("task") or None
        mode = _modality(request.query_params.get("mode"))
        with self.gateway.client.store.connection() as db:
            board = votes.leaderboard(db, task=task, key_name=caller.own, modality=mode)
        return JSONResponse(board)

    def _modality_of(self, model: str) -> str:
        entry = self.gateway.client.settings.catalog.models.get(model)
        return entry.modality if entry is not None else "chat"

    async def inference(self, request: Request, caller: Caller) -> Response:
        with self.gateway.client.store.connection() as db:
            logged = votes.inference(db, _log_id(request.path_params["id"]))
        own = caller.own
        if logged is None or (own is not None and logged["key_name"] != own):
            raise Refused(HTTPFailure(404, "no such inference in the log"))
        return JSONResponse(logged)


def _modality(given: object) -> str:
    """The arena's mode as asked: chat unless the page says otherwise, so older pages still work."""
    if given is None or given == "":
        return "chat"
    if given not in votes.MODALITIES:
        raise InvalidRequestError(f"'mode' must be one of {', '.join(votes.MODALITIES)}")
    return str(given)


def _log_id(given: object) -> str:
    """The log id for a response id: ``chatcmpl-<hex>`` is the log's ``wb-<hex>``."""
    if not isinstance(given, str):
        raise InvalidRequestError("an answer id must be a string")
    return "wb-" + given.removeprefix("chatcmpl-") if given.startswith("chatcmpl-") else given


async def page(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=PAGE_HEADERS)


class Login:
    """``/session``: the page logs in once with the key in a header and from then on rides an
    HttpOnly cookie; ``csrf`` is what its state-changing requests must echo."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def open(self, request: Request, caller: Caller) -> Response:
        key = presented_key(request)
        if key is None:  # a local caller needs no session; a cookie caller has one already
            return await self.show(request, caller)
        token, session = self.gateway.sessions.open(key)
        response = JSONResponse({"caller": caller.name, "csrf": session.csrf})
        set_cookie(response, request, token)
        return response

    async def show(self, request: Request, caller: Caller) -> Response:
        session = await self.gateway.sessions.find(request)
        return JSONResponse({"caller": caller.name, "csrf": session.csrf if session else None})

    async def close(self, request: Request, caller: Caller) -> Response:
        self.gateway.sessions.close(request)
        response = JSONResponse({"caller": None})
        clear_cookie(response, request)
        return response


def web_routes(gateway: Gateway) -> list[BaseRoute]:

    arena, login = gateway.arena, Login(gateway)
    guard = gateway.guard
    return [
        Route("/", page, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        Route("/session", guard("openai", login.open), methods=["POST"]),
        Route("/session", guard("openai", login.show), methods=["GET"]),
        Route("/session", guard("openai", login.close), methods=["DELETE"]),
        Route("/arena/models", guard("openai", arena.models), methods=["GET"]),
        Route("/arena/pair", guard("openai", arena.pair), methods=["POST"]),
        Route("/arena/vote", guard("openai", arena.vote), methods=["POST"]),
        Route("/arena/leaderboard", guard("openai", arena.leaderboard), methods=["GET"]),
        Route("/arena/inference/{id}", guard("openai", arena.inference), methods=["GET"]),
        *browse_routes(gateway),
    ]
