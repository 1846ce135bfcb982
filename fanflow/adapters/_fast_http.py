"""`FastTransport`: a minimal HTTP/1.1 client for the one thing fanflow does, POSTing JSON.

It is `OpenAIAdapter`'s default transport, because client CPU per request bounds a single
process's throughput (figures: bench/README.md). It keeps only what a POST of a small
JSON body needs: a keep-alive pool (`_fast_http_conn`), the request written in one piece,
and the answer parsed by httptools (imported when the first connection opens).

Left out on purpose: proxies, redirects, cookies, asking for compression (it asks for
`identity`; a gzip or deflate body sent all the same is decoded) and HTTP/2. Callers
behind a proxy pass ``http_client=httpx.AsyncClient(proxy=...)`` to `OpenAIAdapter` (or
their own `HTTPTransport`): neither this transport nor `AiohttpTransport` reads proxy
settings.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from urllib.parse import urlsplit

from fanflow._exceptions import ConfigurationError, TransportError
from fanflow.adapters._fast_http_conn import (
    ConnectionPool,
    RequestHead,
    ResentAndFailed,
    UndecodableBody,
    is_parser_error,
)
from fanflow.adapters._transport import HTTPResponse, connection_error, timeout_error

__all__ = ["FastTransport"]

_FRAMING = frozenset({"content-length", "transfer-encoding"})
_DEFAULTS = (("content-type", "application/json"), ("accept-encoding", "identity"))
_TARGETS_KEPT = 256  # distinct URLs whose request head is cached


class FastTransport:
    """An `HTTPTransport` over a keep-alive connection pool on the running event loop.

    `max_connections` caps open connections across all hosts (callers beyond it wait,
    first come, first served); `timeout` bounds a whole request including the wait for
    a connection, `connect_timeout` only opening one; None means unbounded. HTTPS uses
    `ssl_context`, by default `ssl.create_default_context()`.

    The pool is bound to the loop of the first `post()`; used from another loop, it
    starts a fresh pool there and abandons the old one, whose loop cannot run it. A
    `post()` after `aclose()` opens fresh connections.
    """

    __slots__ = (
        "_connect_timeout", "_head_fields", "_headers_seen", "_max_connections",
        "_pool", "_ssl_context", "_targets", "_timeout",
    )  # fmt: skip

    def __init__(
        self,
        *,
        max_connections: int = 1024,
        timeout: float | None = 600.0,
        connect_timeout: float | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if max_connections < 1:
            raise ConfigurationError(
                f"FastTransport(max_connections={max_connections}) must be at least 1; "
                "it caps the connections open to all hosts."
            )
        for name, value in (("timeout", timeout), ("connect_timeout", connect_timeout)):
            if value is not None and not value > 0:
                raise ConfigurationError(
                    f"FastTransport({name}={value!r}) must be a positive number of seconds "
                    "or None for no limit."
                )
        self._max_connections = max_connections
        self._timeout, self._connect_timeout = timeout, connect_timeout
        self._ssl_context = ssl_context
        self._pool: ConnectionPool | None = None
        self._headers_seen: dict[str, str] | None = None
        self._head_fields = ""  # the encoded header lines of `_headers_seen`
        self._targets: dict[str, RequestHead] = {}  # url -> origin and encoded request head

    def __repr__(self) -> str:
        return (
            f"FastTransport(max_connections={self._max_connections}, "
            f"timeout={self._timeout}, connect_timeout={self._connect_timeout})"
        )

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> HTTPResponse:
        pool = self._pool
        if pool is None or pool.loop is not asyncio.get_running_loop():
            pool = self._bind()
        if headers != self._headers_seen:
            self._use_headers(headers)
        head = self._targets.get(url) or self._target(url)
        try:
            return await pool.send(head, body)
        except ResentAndFailed as exc:
            cause = exc.__cause__ or exc
            resent = self._error(url, cause) or connection_error(url, cause)
            raise resent.with_context("", attempts=2) from cause
        except Exception as exc:
            error = self._error(url, exc)
            if error is None:
                raise
            raise error from exc

    async def aclose(self) -> None:
        """Close every connection; a later `post()` opens fresh ones (as aiohttp's does).

        Reopening rather than refusing lets an adapter be used in `async with` again.
        """
        pool, self._pool = self._pool, None
        if pool is not None and pool.loop is asyncio.get_running_loop():
            await pool.close()

    def _bind(self) -> ConnectionPool:
        """A pool for the running loop: on first use, and when the loop changed."""
        self._pool = ConnectionPool(
            asyncio.get_running_loop(),
            self._max_connections,
            self._timeout,
            self._connect_timeout,
            self._ssl_context,
        )
        return self._pool

    def _use_headers(self, headers: Mapping[str, str]) -> None:
        """Validate and encode the header lines once; reused while the headers are equal.

        The encoded lines hold the API key, so they go straight into an attribute, never
        into a local that a traceback with locals would show.
        """
        bad = [n for n in headers if not n or any(c in n for c in ":\r\n") or n.lower() in _FRAMING]
        if bad or any("\r" in v or "\n" in v for v in headers.values()):
            raise ConfigurationError(
                f"FastTransport cannot send the headers {sorted(map(repr, bad))} (or a value "
                "holding a line break): names need no ':' or line breaks, values no line "
                "breaks, and Content-Length/Transfer-Encoding are set by the transport."
            )
        given = {name.lower() for name in headers}
        defaults = [(name, value) for name, value in _DEFAULTS if name not in given]
        self._head_fields = "".join(
            f"{name}: {value}\r\n" for name, value in (*headers.items(), *defaults)
        )
        self._headers_seen = dict(headers)
        self._targets.clear()

    def _target(self, url: str) -> RequestHead:
        """The origin and the request head up to the Content-Length value, for `url`."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        try:
            default_port = {"http": 80, "https": 443}[scheme]
            port = parts.port or default_port
            host = (parts.hostname or "").encode("idna").decode("ascii")
        except (KeyError, ValueError) as exc:  # UnicodeError is a ValueError
            raise _bad_url("it needs http:// or https://, a host and a valid port") from exc
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        if not host or parts.username is not None or any(c in path for c in " \t\r\n"):
            raise _bad_url("it needs a host, no user:password@ and no spaces in the path")
        authority = f"[{host}]" if ":" in host else host
        if port != default_port:
            authority += f":{port}"
        line = f"POST {path} HTTP/1.1\r\n"
        if not any(name.lower() == "host" for name in self._headers_seen or ()):
            line += f"Host: {authority}\r\n"  # a given Host wins
        try:
            target = RequestHead(
                (scheme, host, port),
                (line + self._head_fields + "Content-Length: ").encode("latin-1"),
            )
        except UnicodeEncodeError:  # not chained: its repr would show the header values
            raise ConfigurationError(
                f"FastTransport can only send Latin-1 paths and headers to {url}; "
                "percent-encode the path and keep header values ASCII."
            ) from None
        if len(self._targets) >= _TARGETS_KEPT:
            self._targets.clear()
        self._targets[url] = target
        return target

    def _error(self, url: str, exc: BaseException) -> TransportError | None:
        """The one place a failed request becomes a `TransportError` (never with headers).

        None for an exception that says nothing about the connection (a bug): it is
        raised as it is.
        """
        if isinstance(exc, asyncio.TimeoutError):
            limits = f"timeout={self._timeout} s, connect_timeout={self._connect_timeout} s"
            return timeout_error(url, limits, exc)
        if isinstance(exc, OSError):
            return connection_error(url, exc)
        if isinstance(exc, UndecodableBody):
            return TransportError(
                f"POST {url} answered {exc}. fanflow asks for an uncompressed answer; "
                "check the server or proxy in between.",
                endpoint=url,
            )
        if is_parser_error(exc):
            return TransportError(
                f"POST {url} got a malformed HTTP answer ({exc}). Check that base_url names "
                "an HTTP/1.1 server with the right scheme (http:// or https://).",
                endpoint=url,
            )
        return None


def _bad_url(why: str) -> ConfigurationError:
    # The URL is not echoed: a malformed one may hold credentials (user:password@).
    return ConfigurationError(f"FastTransport cannot POST to that URL: {why}.")
