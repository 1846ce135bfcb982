"""`HttpxTransport`: an `HTTPTransport` over an `httpx.AsyncClient`, the caller's or its own."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from fanflow._redact import is_secret_header, register_secret
from fanflow.adapters._transport import HTTPResponse, connection_error, timeout_error

__all__ = ["HttpxTransport"]


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
        for name, value in client.headers.items():  # a caller's client may carry the key
            if is_secret_header(name):
                register_secret(value.removeprefix("Bearer "))

    def __repr__(self) -> str:
        return f"HttpxTransport(owns_client={self._owns_client})"

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> HTTPResponse:
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise timeout_error(url, f"httpx client {self._client.timeout}", exc) from exc
        except httpx.RequestError as exc:
            raise connection_error(url, exc) from exc
        return HTTPResponse(response.status_code, response.headers, response.content)

    async def aclose(self) -> None:
        """Close the client only if this transport created it."""
        if self._owns_client:
            await self._client.aclose()
