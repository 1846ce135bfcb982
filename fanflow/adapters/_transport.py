"""The HTTP seam under the adapters: one `post()` and an `aclose()`.

Adapters speak to `HTTPTransport`, never to an HTTP library, so the library is chosen in
one place and its exceptions are translated into fanflow's in one place. The default is
`FastTransport` (`_fast_http.py`; why: bench/README.md). `AiohttpTransport` and
`HttpxTransport` (for callers who hold an `httpx.AsyncClient`: proxies, custom TLS, respx)
live in modules of their own, imported only when one is used.

httpx and aiohttp are imported only under `fanflow/adapters/`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from fanflow._exceptions import TransportError
from fanflow._frozen import fast_init

__all__ = ["HTTPResponse", "HTTPTransport", "connection_error", "timeout_error"]


@fast_init
@dataclass(frozen=True, slots=True)
class HTTPResponse:
    """A complete HTTP response; `headers` looks names up case-insensitively.

    `attempts` is how many times the request went on the wire (a transport may resend
    once on a kept-alive connection the server had closed), so usage counts stay true.
    The body is left out of the repr: an error body may echo the API key, and tracebacks
    with locals show the response.
    """

    status: int
    headers: Mapping[str, str]
    body: bytes = field(repr=False)
    attempts: int = 1


@runtime_checkable
class HTTPTransport(Protocol):
    """POST bytes, get the whole response back; raise `TransportError` when none came.

    Any status code is a response, not an error: deciding what a 429 or 500 means is the
    adapter's job, because it knows the provider's error format.
    """

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> HTTPResponse: ...

    async def aclose(self) -> None: ...


def timeout_error(url: str, limits: str, exc: BaseException) -> TransportError:
    """The error for a request to `url` that ran out of time; `limits` says which applied."""
    return TransportError(
        f"POST {url} timed out ({type(exc).__name__}; {limits}). The server may be "
        "overloaded or the generation too long: lower the concurrency or raise the "
        "adapter's timeout.",
        endpoint=url,
    )


def connection_error(url: str, exc: BaseException) -> TransportError:
    """The error for a request to `url` that got no answer (refused, reset, closed)."""
    detail = str(exc) or "no detail"
    return TransportError(
        f"POST {url} got no response ({type(exc).__name__}: {detail}). Check that the "
        "server is running and reachable at that address, and that base_url is right.",
        endpoint=url,
    )
