"""The HTTP seam under the adapters: one `post()` and an `aclose()`.

Adapters speak to `HTTPTransport`, never to an HTTP library, so the library is chosen in
one place and its exceptions are translated into fanflow's in one place. aiohttp is the
default because its client costs an order of magnitude less CPU per request than httpx's
connection pool at hundreds of requests in flight (encode/httpx#3215), and client CPU is
what limits a single process fanning out to a remote inference network. httpx stays
available for callers who already hold an `httpx.AsyncClient` (proxies, custom TLS, respx).

httpx and aiohttp are imported only under `fanflow/adapters/`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import aiohttp
import httpx

from fanflow._exceptions import ConfigurationError, TransportError

__all__ = ["AiohttpTransport", "HTTPResponse", "HTTPTransport", "HttpxTransport"]


@dataclass(frozen=True, slots=True)
class HTTPResponse:
    """A complete HTTP response; `headers` looks names up case-insensitively.

    `attempts` is how many times the request went on the wire (a transport may resend
    once on a kept-alive connection the server had closed), so usage counts stay true.
    """

    status: int
    headers: Mapping[str, str]
    body: bytes
    attempts: int = 1


@runtime_checkable
class HTTPTransport(Protocol):
    """POST bytes, get the whole response back; raise `TransportError` when none came.

    Any status code is a response, not an error: deciding what a 429 or 500 means is the
    adapter's job, because it knows the provider's error format.
    """

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> HTTPResponse: ...

    async def aclose(self) -> None: ...


def _timeout_error(url: str, limits: str, exc: BaseException) -> TransportError:
    return TransportError(
        f"POST {url} timed out ({type(exc).__name__}; {limits}). The server may be "
        "overloaded or the generation too long: lower the concurrency or raise the "
        "adapter's timeout.",
        endpoint=url,
    )


def _connection_error(url: str, exc: BaseException) -> TransportError:
    detail = str(exc) or "no detail"
    return TransportError(
        f"POST {url} got no response ({type(exc).__name__}: {detail}). Check that the "
        "server is running and reachable at that address, and that base_url is right.",
        endpoint=url,
    )


class AiohttpTransport:
    """The default transport: one lazily created `aiohttp.ClientSession` per event loop.

    The session is created on first use because aiohttp binds it to the running loop. If
    the adapter is later used from a new loop (a second `asyncio.run()`), a fresh session
    is opened there and the old one is abandoned: its loop is gone, so it cannot be closed.

    `timeout` bounds a whole request (connect, send, wait, read); `connect_timeout` bounds
    only establishing the connection. None means unbounded.
    """

    __slots__ = ("_connect_timeout", "_loop", "_max_connections", "_session", "_timeout")

    def __init__(
        self,
        *,
        max_connections: int = 1024,
        timeout: float | None = 600.0,
        connect_timeout: float | None = None,
    ) -> None:
        if max_connections < 1:
            raise ConfigurationError(
                f"AiohttpTransport(max_connections={max_connections}) must be at least 1; "
                "it caps the requests in flight to all hosts."
            )
        self._max_connections = max_connections
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return (
            f"AiohttpTransport(max_connections={self._max_connections}, "
            f"timeout={self._timeout}, connect_timeout={self._connect_timeout})"
        )

    def _open_session(self, loop: asyncio.AbstractEventLoop) -> aiohttp.ClientSession:
        """Create the session inside the running loop; cold path, once per loop."""
        if self._session is not None:
            # Used from a new loop: the old session belongs to a loop that cannot run it.
            # Detaching marks it closed so it does not warn when collected.
            self._session.detach()
        connector = aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=0)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self._timeout, connect=self._connect_timeout),
            # Nothing fanflow sends benefits from aiohttp's defaults: bodies are small JSON
            # and cookies would only leak state between unrelated requests.
            skip_auto_headers=("User-Agent",),
            cookie_jar=aiohttp.DummyCookieJar(),
            raise_for_status=False,
        )
        self._loop = loop
        return self._session

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> HTTPResponse:
        loop = asyncio.get_running_loop()
        session = self._session
        if session is None or self._loop is not loop:
            session = self._open_session(loop)
        try:
            async with session.post(
                url, data=body, headers=headers, allow_redirects=False
            ) as response:
                return HTTPResponse(response.status, response.headers, await response.read())
        except (aiohttp.ServerTimeoutError, asyncio.TimeoutError) as exc:
            limits = f"timeout={self._timeout} s, connect_timeout={self._connect_timeout} s"
            raise _timeout_error(url, limits, exc) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise _connection_error(url, exc) from exc

    async def aclose(self) -> None:
        """Close the session; a later `post()` opens a new one."""
        session, self._session, self._loop = self._session, None, None
        if session is not None:
            await session.close()


class HttpxTransport:
    """A transport over an `httpx.AsyncClient`, for callers who bring their own client.

    A client handed in stays the caller's: `aclose()` leaves it open and its own timeout
    settings apply. Without one, a client is created and owned (and closed) here.
    """

    __slots__ = ("_client", "_owns_client")

    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        *,
        max_connections: int = 1024,
        timeout: float | None = 600.0,
    ) -> None:
        self._owns_client = client is None
        if client is None:
            client = httpx.AsyncClient(
                limits=httpx.Limits(
                    max_connections=max_connections, max_keepalive_connections=max_connections
                ),
                timeout=httpx.Timeout(timeout),
            )
        self._client = client

    def __repr__(self) -> str:
        return f"HttpxTransport(owns_client={self._owns_client})"

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> HTTPResponse:
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise _timeout_error(url, f"httpx client {self._client.timeout}", exc) from exc
        except httpx.RequestError as exc:
            raise _connection_error(url, exc) from exc
        return HTTPResponse(response.status_code, response.headers, response.content)

    async def aclose(self) -> None:
        """Close the client only if this transport created it."""
        if self._owns_client:
            await self._client.aclose()
