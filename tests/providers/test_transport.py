"""The upstream HTTP client (httpx over aiohttp's pool) against a real loopback server: the
same httpx exceptions as httpcore for the same failures, and no cookies carried between
callers."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
import pytest

from tests.support.replay import ReplayServer, sse
from weighbridge.errors import ProviderConnectionError, ProviderError, ProviderTimeoutError
from weighbridge.providers.http import transport_error
from weighbridge.providers.transport import upstream_client
from weighbridge.routing.routes import failure_class as classify
from weighbridge.server.errors import failure_for

T = TypeVar("T")


def run(fn: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    async def main() -> T:
        async with upstream_client(httpx.Limits(max_connections=8), httpx.Timeout(5)) as http:
            return await fn(http)

    return asyncio.run(main())


def test_a_cookie_set_for_one_request_is_not_sent_with_the_next(upstream: ReplayServer) -> None:
    upstream.reply_json({"n": 1}, headers={"Set-Cookie": "session=caller-one; Path=/"})
    upstream.reply_json({"n": 2})

    async def two(http: httpx.AsyncClient) -> list[object]:
        # By name, not by IP address: cookie jars (aiohttp's too) ignore cookies from IP hosts.
        url = upstream.url.replace("127.0.0.1", "localhost") + "/v1/x"
        return [(await http.post(url, json={})).json() for _ in range(2)]

    assert run(two) == [{"n": 1}, {"n": 2}]
    assert all("cookie" not in {k.lower() for k in r.headers} for r in upstream.requests)


@pytest.mark.parametrize(
    ("reset", "error"), [(False, None), (True, httpx.ReadError)], ids=["eof", "tcp-reset"]
)
def test_a_body_that_ends_with_the_connection(
    upstream: ReplayServer, reset: bool, error: type[Exception] | None
) -> None:
    # No length and no chunks: only how the connection ended says whether the body is whole.
    upstream.reply_cut([sse("data: one")], reset=reset)

    async def read(http: httpx.AsyncClient) -> bytes:
        async with http.stream("POST", upstream.url + "/v1/x", json={}) as response:
            return b"".join([chunk async for chunk in response.aiter_bytes()])

    if error is None:
        assert run(read) == b"data: one\n\n"
    else:
        with pytest.raises(error):
            run(read)


def test_no_response_at_all_is_a_protocol_error(upstream: ReplayServer) -> None:
    upstream.drop()
    with pytest.raises(httpx.RemoteProtocolError):
        run(lambda http: http.post(upstream.url + "/v1/x", json={}))


def test_nothing_listening_is_a_connect_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free, and nothing listens on it once closed
    with pytest.raises(httpx.ConnectError):
        run(lambda http: http.post(f"http://127.0.0.1:{port}/v1/x", json={}))


def test_a_silent_upstream_is_a_read_timeout(upstream: ReplayServer) -> None:
    upstream.reply_sse([sse("data: one"), sse("data: two")], delay_s=1.0)

    async def slow(http: httpx.AsyncClient) -> None:
        async with http.stream("POST", upstream.url + "/v1/x", json={}, timeout=0.3) as response:
            async for _ in response.aiter_bytes():
                pass

    with pytest.raises(httpx.ReadTimeout):
        run(slow)


@pytest.mark.parametrize(
    ("failure", "error", "failure_class", "status"),
    [
        (httpx.ReadTimeout("slow"), ProviderTimeoutError, "timeout", 504),
        (httpx.ConnectTimeout("slow"), ProviderTimeoutError, "timeout", 504),
        (httpx.ConnectError("refused"), ProviderConnectionError, "connect", 502),
        (httpx.RemoteProtocolError("cut"), ProviderConnectionError, "connect", 502),
    ],
)
def test_transport_failures_become_typed_errors_that_routing_and_the_gateway_read(
    failure: httpx.HTTPError, error: type[ProviderError], failure_class: str, status: int
) -> None:
    """Each failure is a class, so a route's fallback rule and the gateway's status read the
    type, never the message's words."""
    typed = transport_error("cloud", failure)
    assert type(typed) is error and typed.retryable and typed.status is None
    assert classify(typed) == failure_class
    assert failure_for(typed).status == status
