"""Browser sessions for the page: a key typed once becomes an HttpOnly cookie, so no script on
the page (nor anything injected into it) can read the key back, and every state-changing call
made with that cookie must also carry the session's CSRF token, which another site cannot know.

Sessions live in the store, so a session opened on one gateway replica works on every other.
The store holds the digest of the cookie (a copy of the database opens no session) and the
digest of the key, never the key: each request looks the key up by that digest, so a revoked
key ends its sessions at once.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from weighbridge.hashing import digest
from weighbridge.store import Store

COOKIE = "wb_session"
CSRF_HEADER = "x-csrf-token"
#: A session unused for this long is forgotten.
IDLE_S = 8 * 3600
#: ``seen`` is written back at most this often, not on every request.
_TOUCH_S = 60.0
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Session:
    key_digest: str
    csrf: str


class Sessions:
    def __init__(self, store: Store) -> None:
        self._store = store

    def open(self, key: str) -> tuple[str, Session]:
        """A new session for a key already checked by the caller; returns its cookie value."""
        token = secrets.token_urlsafe(32)
        session = Session(digest(key), secrets.token_urlsafe(24))
        now = time.time()
        with self._store.connection() as db:
            db.execute("DELETE FROM page_sessions WHERE seen < ?", (now - IDLE_S,))
            db.execute(
                "INSERT INTO page_sessions (token_digest, key_digest, csrf, seen) VALUES (?, ?, ?, ?)",
                (digest(token), session.key_digest, session.csrf, now),
            )
        return token, session

    async def find(self, request: Request) -> Session | None:
        token = request.cookies.get(COOKIE)
        if not token:
            return None
        return await self._store.offload(self._find, token)

    def _find(self, token: str) -> Session | None:
        now = time.time()
        with self._store.connection() as db:
            row = db.execute(
                "SELECT key_digest, csrf, seen FROM page_sessions WHERE token_digest = ? AND seen >= ?",
                (digest(token), now - IDLE_S),
            ).fetchone()
            if row is None:
                return None
            if now - float(row[2]) > _TOUCH_S:
                db.execute("UPDATE page_sessions SET seen = ? WHERE token_digest = ?", (now, digest(token)))
        return Session(str(row[0]), str(row[1]))

    def close(self, request: Request) -> None:
        token = request.cookies.get(COOKIE)
        if token:
            with self._store.connection() as db:
                db.execute("DELETE FROM page_sessions WHERE token_digest = ?", (digest(token),))


def csrf_ok(request: Request, session: Session) -> bool:
    """A state-changing request on a cookie must echo the session's CSRF token in a header."""
    if request.method in SAFE_METHODS:
        return True
    return secrets.compare_digest(request.headers.get(CSRF_HEADER, ""), session.csrf)


def cross_site(request: Request) -> bool:
    """Whether a browser says this state-changing request comes from another site's page.

    A gateway with no master key serves anyone on loopback, and a page on any site can make the
    browser POST to loopback; browsers name the page's origin, tools do not send the header."""
    if request.method in SAFE_METHODS:
        return False
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:  # the browser's own word, right behind a proxy that rewrites Host
        return fetch_site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return False
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] != host


def set_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def clear_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        COOKIE, httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/"
    )
