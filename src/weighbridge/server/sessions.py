"""Browser sessions for the page: a key typed once becomes an HttpOnly cookie, so no script on
the page (nor anything injected into it) can read the key back, and every state-changing call
made with that cookie must also carry the session's CSRF token, which another site cannot know.

Sessions live in memory only: a restarted gateway asks for the key again, and the key itself is
held here (to re-check it on every request, so a revoked key ends its sessions at once) but is
never written anywhere.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "wb_session"
CSRF_HEADER = "x-csrf-token"
#: A session unused for this long is forgotten.
IDLE_S = 8 * 3600
_MAX_SESSIONS = 10_000
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class Session:
    key: str
    csrf: str
    seen: float


class Sessions:
    def __init__(self) -> None:
        self._by_token: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open(self, key: str) -> tuple[str, Session]:
        """A new session for a key already checked by the caller; returns its cookie value."""
        token = secrets.token_urlsafe(32)
        session = Session(key, secrets.token_urlsafe(24), time.monotonic())
        with self._lock:
            self._expire()
            if len(self._by_token) >= _MAX_SESSIONS:  # the oldest goes first
                oldest = min(self._by_token, key=lambda t: self._by_token[t].seen)
                del self._by_token[oldest]
            self._by_token[token] = session
        return token, session

    def find(self, request: Request) -> Session | None:
        token = request.cookies.get(COOKIE)
        if not token:
            return None
        now = time.monotonic()
        with self._lock:
            session = self._by_token.get(token)
            if session is None or now - session.seen > IDLE_S:
                self._by_token.pop(token, None)
                return None
            session.seen = now
            return session

    def close(self, request: Request) -> None:
        token = request.cookies.get(COOKIE)
        if token:
            with self._lock:
                self._by_token.pop(token, None)

    def _expire(self) -> None:
        now = time.monotonic()
        for token in [t for t, s in self._by_token.items() if now - s.seen > IDLE_S]:
            del self._by_token[token]


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
