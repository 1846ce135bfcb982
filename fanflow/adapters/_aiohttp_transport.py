"""`AiohttpTransport`: an `HTTPTransport` over an `aiohttp.ClientSession`."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import aiohttp

from fanflow._exceptions import ConfigurationError
from fanflow.adapters._transport import HTTPResponse, connection_error, timeout_error

__all__ = ["AiohttpTransport"]


class AiohttpTransport:
    """A transport over one lazily created `aiohttp.ClientSession` per event loop.

    The session is created on first use because aiohttp binds it to the running loop. If
    the adapter is later used from a new loop (a second `asyncio.run()`), a fresh session
    is opened there and the old one is abandoned: its loop is gone, so it cannot be closed.

    `timeout` bounds a whole request (connect, send, wait, read); `connect_timeout` bounds
    only establishing the connection. None means unbounded. Proxy settings are not read
    (aiohttp's `trust_env` is off).
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
            raise timeout_error(url, limits, exc) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise connection_error(url, exc) from exc

    async def aclose(self) -> None:
        """Close the session; a later `post()` opens a new one."""
        session, self._session, self._loop = self._session, None, None
        if session is not None:
            await session.close()
