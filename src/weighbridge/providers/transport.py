"""The HTTP transport under the providers' shared ``httpx.AsyncClient``: aiohttp's connection
pool behind httpx's interface.

Why not httpx's own: httpcore's pool re-checks every pooled connection on each request (idle,
expired, readable), so its cost per request grows with the connections a busy gateway keeps
open; under 64 concurrent requests it was half of the gateway's CPU. aiohttp keeps idle
connections per host in a queue and takes one in constant time. Everything above the
transport stays httpx (the ``httpx.AsyncClient`` the providers take, ``httpx.MockTransport`` in
tests, httpx's proxies from the environment, its error classes), so the providers' error
mapping in :mod:`weighbridge.providers.http` sees the same exceptions as before.

Why not the ``httpx-aiohttp`` package: it maps a connection the server drops
(``ServerDisconnectedError``) to ``httpx.ConnectTimeout``, which would turn "the upstream closed
the connection" into "timed out"; here each aiohttp failure maps to the httpx class httpcore
raises for the same event.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import lru_cache

import aiohttp
import httpx


def upstream_client(
    limits: httpx.Limits, timeout: httpx.Timeout, *, uds: str | None = None, base_url: str = ""
) -> httpx.AsyncClient:
    """The client the providers share on one event loop: httpx over aiohttp's pool, without
    a cookie jar. With ``uds``, every request goes to that unix socket (a local engine's)."""
    return UpstreamClient(timeout=timeout, transport=AiohttpTransport(limits, uds=uds), base_url=base_url)


class UpstreamClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` that keeps no cookies. One client carries every caller's requests
    to an upstream, so a cookie the upstream sets while answering one caller must not ride along
    on the next caller's request; the APIs behind the providers authenticate with headers and
    need none. It also spares httpx's per-response cookie parsing, which goes through
    ``urllib``'s request and cookie-jar machinery even when there is no ``Set-Cookie``."""

    @property
    def cookies(self) -> httpx.Cookies:
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        raise TypeError("the upstream client keeps no cookies")


class _NoCookies(httpx.Cookies):
    """Empty, and stays empty."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set(self, name: str, value: str, domain: str = "", path: str = "/") -> None:
        raise TypeError("the upstream client keeps no cookies")


_NO_COOKIES = _NoCookies()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Sends each request on a pooled aiohttp connection. Made on (and bound to) one event loop;
    the aiohttp session opens on the first request."""

    def __init__(self, limits: httpx.Limits, *, uds: str | None = None) -> None:
        self._limits = limits
        self._uds = uds
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        limit, keepalive = self._limits.max_connections or 0, self._limits.keepalive_expiry or 0
        connector: aiohttp.BaseConnector = (
            aiohttp.UnixConnector(path=self._uds, limit=limit, keepalive_timeout=keepalive)
            if self._uds
            else aiohttp.TCPConnector(
                limit=limit,
                limit_per_host=0,
                keepalive_timeout=keepalive,
                ssl=httpx.create_ssl_context(),  # the trust store httpx would use (certifi)
            )
        )
        # trust_env off: httpx has already routed proxied URLs to its own proxy transports.
        return aiohttp.ClientSession(
            connector=connector,
            trust_env=False,
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),  # cookies: see UpstreamClient
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session
        if session is None:
            session = self._session = self._open()
        timeout = request.extensions.get("timeout", {})
        with _mapped():
            response = await session.request(
                request.method,
                str(request.url),
                headers=request.headers.multi_items(),
                data=(await request.aread()) or None,
                allow_redirects=False,  # httpx follows redirects itself, when asked to
                timeout=_timeout(timeout.get("connect"), timeout.get("read"), timeout.get("pool")),
            )
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=_Body(response),
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (response.reason or "").encode()},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _Body(httpx.AsyncByteStream):
    """The response body as it arrives; closing it before the end closes the connection."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        headers = response.headers
        # A body with neither a length nor chunks ends when the connection does (an SSE answer
        # through some proxies): aiohttp ends it cleanly even on a reset, and only its protocol
        # remembers how the connection went, so that is asked once the body is over.
        delimited = "Content-Length" in headers or "chunked" in headers.get("Transfer-Encoding", "")
        connection = response.connection
        self._protocol = None if delimited or connection is None else connection.protocol

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _mapped():
            async for chunk in self._response.content.iter_any():
                yield chunk
        if self._protocol is not None and isinstance(self._protocol.exception(), aiohttp.ClientOSError):
            raise httpx.ReadError("the connection was reset before the body ended")

    async def aclose(self) -> None:
        if self._response.content.at_eof():
            self._response.release()  # back to the pool (aiohttp has usually done so already)
        else:
            self._response.close()  # unread data would corrupt the next exchange on it


@lru_cache(maxsize=64)
def _timeout(connect: float | None, read: float | None, pool: float | None) -> aiohttp.ClientTimeout:
    """httpx's per-request timeouts in aiohttp's terms: ``read`` bounds each wait for data, as
    in httpx; aiohttp's ``connect`` covers the wait for a pooled connection (httpx's ``pool``).
    Few distinct values occur (one per provider), hence the cache."""
    return aiohttp.ClientTimeout(total=None, connect=pool, sock_connect=connect, sock_read=read)


class _mapped:
    """Re-raise aiohttp's failures as the httpx exceptions httpcore raises for the same events."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None or not isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError)):
            return  # success, cancellation, or not a transport failure
        raise _httpx_error(exc) from exc


def _httpx_error(exc: BaseException) -> httpx.TransportError:
    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message)
    if isinstance(exc, asyncio.TimeoutError):  # SocketTimeoutError and ServerTimeoutError too
        return httpx.ReadTimeout(message)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(message)
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError)):
        return httpx.RemoteProtocolError(message)  # closed before the answer was complete
    if isinstance(exc, aiohttp.ClientOSError):
        return httpx.ReadError(message)  # reset by the peer mid-exchange
    if isinstance(exc, aiohttp.ClientResponseError):
        return httpx.RemoteProtocolError(message)  # not a valid HTTP/1.1 answer
    if isinstance(exc, (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError)):
        return httpx.UnsupportedProtocol(message)
    return httpx.TransportError(message)
