from __future__ import annotations

import asyncio
import pickle
from collections.abc import Callable

import httpx
import pytest
import respx
from aiohttp import web

from fanflow import ConfigurationError, TransportError
from fanflow.adapters import AiohttpTransport, HTTPResponse, HTTPTransport, HttpxTransport

from . import closed_port, serve

SECRET = "Bearer sk-never-print-me"


async def echo(request: web.Request) -> web.Response:
    """Answer 418 with the request body and a mixed-case header, to check pass-through."""
    return web.Response(
        status=418,
        body=await request.read(),
        headers={"X-Request-Auth": request.headers.get("Authorization", "")},
    )


async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read the request, then close the connection without answering."""
    await reader.read(1024)
    writer.close()


MAKERS: list[Callable[[], HTTPTransport]] = [AiohttpTransport, HttpxTransport]
each_transport = pytest.mark.parametrize("make", MAKERS, ids=["aiohttp", "httpx"])


@each_transport
def test_transports_satisfy_the_protocol(make: Callable[[], HTTPTransport]) -> None:
    assert isinstance(make(), HTTPTransport)


def test_max_connections_must_be_positive() -> None:
    with pytest.raises(ConfigurationError, match="at least 1"):
        AiohttpTransport(max_connections=0)


@each_transport
async def test_any_status_is_a_response_with_body_and_headers(
    make: Callable[[], HTTPTransport],
) -> None:
    transport = make()
    async with serve(echo) as base:
        try:
            response = await transport.post(
                f"{base}/chat/completions", b'{"a":1}', {"Authorization": SECRET}
            )
        finally:
            await transport.aclose()
    assert isinstance(response, HTTPResponse)
    assert response.status == 418
    assert response.body == b'{"a":1}'
    assert response.headers["x-request-auth"] == SECRET
    assert response.headers["X-REQUEST-AUTH"] == SECRET


@each_transport
async def test_connection_refused_is_transport_error(make: Callable[[], HTTPTransport]) -> None:
    transport = make()
    url = f"http://127.0.0.1:{closed_port()}/v1/chat/completions"
    try:
        with pytest.raises(TransportError) as info:
            await transport.post(url, b"{}", {"Authorization": SECRET})
    finally:
        await transport.aclose()
    exc = info.value
    assert url in str(exc)
    assert "Check that the server is running" in str(exc)
    assert exc.endpoint == url
    assert SECRET not in str(exc) + repr(exc)
    assert SECRET.encode() not in pickle.dumps(exc)
    assert exc.__cause__ is not None


@each_transport
async def test_server_hanging_up_is_transport_error(make: Callable[[], HTTPTransport]) -> None:
    transport = make()
    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    try:
        with pytest.raises(TransportError, match="got no response"):
            await transport.post(url, b"{}", {})
    finally:
        await transport.aclose()
        server.close()
        await server.wait_closed()


async def slow(_: web.Request) -> web.Response:
    await asyncio.sleep(10)
    return web.Response(text="late")


async def test_aiohttp_timeout_is_transport_error() -> None:
    transport = AiohttpTransport(timeout=0.2)
    async with serve(slow) as base:
        try:
            with pytest.raises(TransportError, match=r"timed out .*timeout=0\.2 s"):
                await transport.post(f"{base}/chat/completions", b"{}", {})
        finally:
            await transport.aclose()


async def test_httpx_timeout_is_transport_error() -> None:
    async with httpx.AsyncClient(timeout=0.2) as client, serve(slow) as base:
        transport = HttpxTransport(client)
        with pytest.raises(TransportError, match="timed out") as info:
            await transport.post(f"{base}/chat/completions", b"{}", {})
    assert isinstance(info.value.__cause__, httpx.TimeoutException)


async def test_aiohttp_caps_connections_in_flight() -> None:
    in_flight = peak = 0

    async def counting(_: web.Request) -> web.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        return web.Response(text="ok")

    transport = AiohttpTransport(max_connections=2)
    async with serve(counting) as base:
        url = f"{base}/chat/completions"
        try:
            responses = await asyncio.gather(*(transport.post(url, b"", {}) for _ in range(8)))
        finally:
            await transport.aclose()
    assert [r.status for r in responses] == [200] * 8
    assert peak == 2


async def test_aiohttp_session_is_lazy_and_reopens_after_aclose() -> None:
    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    transport = AiohttpTransport()
    assert transport._session is None
    async with serve(ok) as base:
        url = f"{base}/chat/completions"
        await transport.post(url, b"", {})
        first = transport._session
        await transport.aclose()
        assert first is not None and first.closed
        response = await transport.post(url, b"", {})
        await transport.aclose()
    assert response.body == b"ok"
    assert transport._session is None


# The first loop's pooled connection is abandoned unclosed and aiohttp rightly warns
# about it when collected; that warning is the user's cue to `aclose()` the adapter.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_aiohttp_transport_survives_a_new_event_loop() -> None:
    # A second asyncio.run() must not reuse the session bound to the first, dead loop.
    transport = AiohttpTransport()

    async def one_round() -> bytes:
        async def ok(_: web.Request) -> web.Response:
            return web.Response(text="ok")

        async with serve(ok) as base:
            response = await transport.post(f"{base}/chat/completions", b"", {})
        return response.body

    assert asyncio.run(one_round()) == b"ok"
    first = transport._session
    assert asyncio.run(one_round()) == b"ok"
    assert transport._session is not first
    asyncio.run(transport.aclose())


async def test_httpx_transport_leaves_a_given_client_open() -> None:
    async with httpx.AsyncClient() as client:
        transport = HttpxTransport(client)
        with respx.mock:
            respx.post("http://127.0.0.1:1/x").respond(200, text="ok")
            assert (await transport.post("http://127.0.0.1:1/x", b"", {})).body == b"ok"
        await transport.aclose()
        assert not client.is_closed


async def test_httpx_transport_closes_a_client_it_made() -> None:
    transport = HttpxTransport()
    await transport.aclose()
    assert transport._client.is_closed
