"""The connections under `FastTransport`: one `asyncio.Protocol` each, and their pool.

Protocol callbacks resolve one future per request, so a request costs one future, one
`transport.write` and a dict entry for its deadline (`_deadlines`): no tasks, no stream
objects, no timer of its own. httptools parses the responses, so Content-Length, chunked
bodies and `Connection: close` are handled by a real HTTP parser, not by hand; it is
imported when the first connection opens.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections import defaultdict, deque
from collections.abc import Coroutine, Iterator, Mapping
from dataclasses import replace
from functools import partial
from typing import Any, TypeAlias

from fanflow.adapters._deadlines import Deadlines
from fanflow.adapters._transport import HTTPResponse

__all__ = [
    "Connection",
    "ConnectionPool",
    "Key",
    "RequestHead",
    "ResentAndFailed",
    "ResponseHeaders",
    "StaleConnection",
    "UndecodableBody",
    "is_parser_error",
]

Key: TypeAlias = "tuple[str, str, int]"
"""(scheme, host, port): connections are only reused for the same origin."""

_CLOSED = "the FastTransport was closed by aclose()"


class RequestHead:
    """The origin and the encoded request head up to the Content-Length value.

    The head holds the header lines, the API key among them, so its repr hides it:
    tracebacks with locals (as error reporters capture them) show every frame's
    variables, and this object is the only form the key takes on the way to the socket.
    """

    __slots__ = ("data", "origin")

    def __init__(self, origin: Key, data: bytes) -> None:
        self.origin, self.data = origin, data

    def __repr__(self) -> str:
        return f"RequestHead(origin={self.origin!r}, data=<{len(self.data)} bytes, not shown>)"


class StaleConnection(ConnectionError):
    """A kept-alive connection failed before any byte of the answer: safe to retry once."""


class ResentAndFailed(ConnectionError):
    """The resend after a stale connection failed too; its cause is the second failure."""


class UndecodableBody(ValueError):
    """An answer's body is marked gzip or deflate but does not decompress."""

    def __init__(self, status: int, encoding: str, problem: str) -> None:
        super().__init__(
            f"{status} with a body marked Content-Encoding: {encoding} that does not "
            f"decompress ({problem})"
        )


class ResponseHeaders(Mapping[str, str]):
    """Response headers, looked up case-insensitively, decoded on first lookup.

    Decoding waits for the first lookup, so a caller that reads no header pays nothing.
    """

    __slots__ = ("_parsed", "_raw")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._raw = raw
        self._parsed: dict[str, str] | None = None

    def _decoded(self) -> dict[str, str]:
        if self._parsed is None:
            raw = self._raw
            parsed = {n.decode("latin-1").lower(): v.decode("latin-1") for n, v in raw}
            if len(parsed) < len(raw):  # a repeated name: join its values, as HTTP allows
                parsed = {}
                for name, value in raw:
                    key, text = name.decode("latin-1").lower(), value.decode("latin-1")
                    parsed[key] = f"{parsed[key]}, {text}" if key in parsed else text
            self._parsed = parsed
        return self._parsed

    def __getitem__(self, name: str) -> str:
        return self._decoded()[name.lower()]

    def any_named(self, prefix: bytes) -> bool:
        """Whether a header's name starts with `prefix` (lower case), decoding nothing."""
        size = len(prefix)
        for name, _ in self._raw:  # noqa: SIM110  (a loop: any() of a generator costs more)
            if name[:size].lower() == prefix:
                return True
        return False

    def get(self, name: str, default: Any = None) -> Any:
        # Mapping.get would raise and catch KeyError for every absent name; the adapter
        # looks up several rate-limit headers that most servers never send.
        return self._decoded().get(name.lower(), default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._decoded())

    def __len__(self) -> int:
        return len(self._decoded())

    def __repr__(self) -> str:
        return f"ResponseHeaders({self._decoded()!r})"


def _decompressed(body: bytes, encoding: bytes) -> bytes:
    """`body` decoded from gzip or deflate; another encoding is left to the caller to
    report (a body that is not JSON, with its Content-Encoding named)."""
    if encoding in (b"gzip", b"x-gzip"):
        return zlib.decompress(body, wbits=31)
    if encoding == b"deflate":
        try:
            return zlib.decompress(body)  # HTTP's "deflate" is zlib-wrapped...
        except zlib.error:
            return zlib.decompress(body, wbits=-15)  # ...but some servers send it raw
    return body


def is_parser_error(exc: BaseException) -> bool:
    """Whether `exc` is httptools saying an answer is not valid HTTP."""
    import httptools

    return isinstance(exc, httptools.HttpParserError)


class Connection(asyncio.Protocol):
    """One HTTP/1.1 connection carrying one request at a time (no pipelining)."""

    __slots__ = (
        "body", "encoding", "headers", "headers_done", "keep_alive", "key", "parser", "pool",
        "received", "served", "transport", "waiter",
    )  # fmt: skip

    def __init__(self, pool: ConnectionPool, key: Key) -> None:
        from httptools import HttpResponseParser  # here: `import fanflow` stays light

        self.pool, self.key = pool, key
        self.transport: asyncio.Transport | None = None
        self.parser = HttpResponseParser(self)
        self.waiter: asyncio.Future[HTTPResponse] | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.encoding: bytes | None = None  # Content-Encoding, when the server sent one
        self.headers_done = self.received = self.keep_alive = False
        self.served = 0  # answers completed: above 0, this connection was reused

    def request(self, head: RequestHead, body: bytes) -> asyncio.Future[HTTPResponse]:
        """Send one whole request; the future resolves with the whole answer."""
        waiter = self.waiter = self.pool.loop.create_future()
        self.received = False
        if self.transport is None:  # lost between being pooled and being picked
            waiter.set_exception(self._lost_error(None))
        else:  # one write; the bytes holding the key are never bound to a local
            self.transport.write(b"%s%d\r\n\r\n%s" % (head.data, len(body), body))
        return waiter

    def abort(self) -> None:
        """Drop the socket now; `connection_lost` follows and fails a pending request."""
        transport, self.transport = self.transport, None
        if transport is not None:
            transport.abort()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # create_connection: a stream
        self.pool.connections.add(self)

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except Exception as exc:  # an httptools.HttpParserError: the only error it raises
            self._fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        peer_closed = exc is None and self.transport is not None  # not our abort()
        self.transport = None
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            if peer_closed and self.headers_done and not self._framed():
                self._answer(waiter)  # a body delimited by the end of the connection
            else:
                waiter.set_exception(self._lost_error(exc))
        self.pool.forget(self)

    def _lost_error(self, exc: Exception | None) -> ConnectionError:
        if self.served and not self.received:
            return StaleConnection("the server had closed this kept-alive connection")
        if isinstance(exc, ConnectionError):
            return exc
        return ConnectionError("the connection closed before a complete answer")

    def _framed(self) -> bool:
        framing = (b"content-length", b"transfer-encoding")
        return any(name.lower() in framing for name, _ in self.headers)

    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
        self.abort()

    def _answer(self, waiter: asyncio.Future[HTTPResponse]) -> None:
        status = self.parser.get_status_code()
        body = b"".join(self.body)
        if self.encoding is not None:
            try:
                body = _decompressed(body, self.encoding)
            except zlib.error as exc:
                encoding = self.encoding.decode("latin-1")
                waiter.set_exception(UndecodableBody(status, encoding, str(exc)))
                return
        waiter.set_result(HTTPResponse(status, ResponseHeaders(self.headers), body))

    # httptools callbacks ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.headers, self.body, self.headers_done = [], [], False
        self.encoding = None

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))
        # fanflow asks for identity, but some proxies compress anyway; the length test
        # first keeps this per-header check nearly free.
        if len(name) == 16 and name.lower() == b"content-encoding":
            value = value.strip().lower()
            if value and value != b"identity":
                self.encoding = value

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.parser.get_status_code() < 200:
            return  # an interim 1xx answer: the real one follows on the same connection
        waiter, self.waiter = self.waiter, None
        self.keep_alive = self.parser.should_keep_alive()
        self.served += 1
        if waiter is None:
            self._fail(ConnectionError("unsolicited answer"))
        elif not waiter.done():
            self._answer(waiter)


class ConnectionPool:
    """Keep-alive connections of one event loop, at most `limit` open across all origins.

    Every open connection, busy or idle, holds a slot. Idle connections are reused last
    in, first out (the warmest socket, and the rest can time out server-side); callers
    that find no slot wait in a FIFO queue and are handed a connection or a slot.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        limit: int,
        timeout: float | None,
        connect_timeout: float | None,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self.loop, self.limit, self.timeout = loop, limit, timeout
        self.connect_timeout, self.ssl_context = connect_timeout, ssl_context
        self.connections: set[Connection] = set()
        self.idle: defaultdict[Key, dict[Connection, None]] = defaultdict(dict)
        self.waiters: deque[tuple[Key, asyncio.Future[Connection | None]]] = deque()
        self.slots_used = 0
        self.closed = False
        self._drained: asyncio.Future[None] | None = None
        self.deadlines = Deadlines(loop)  # of requests and of waits for a slot

    def send(self, head: RequestHead, body: bytes) -> Coroutine[Any, Any, HTTPResponse]:
        """One request/answer exchange, on a pooled connection if one is idle (awaited as
        `async`; a plain method so that a request goes through one coroutine here)."""
        deadline = None if self.timeout is None else self.loop.time() + self.timeout
        idle = self.idle.get(head.origin)
        return self._exchange(idle.popitem()[0] if idle else None, head, body, deadline)

    async def _exchange(
        self, conn: Connection | None, head: RequestHead, body: bytes, deadline: float | None
    ) -> HTTPResponse:
        """Send on `conn` (None: acquire one first) and read the answer."""
        if conn is None:
            conn = await self._acquire(head.origin, deadline)
        waiter = conn.request(head, body)
        if deadline is not None:
            self.deadlines.add(waiter, deadline)
        try:
            response = await waiter
        except StaleConnection:
            conn.abort()  # its slot is kept for the resend
            return await self._resend(head, body, deadline)
        except BaseException:  # failed, timed out or cancelled: never reuse the socket
            self._discard(conn)
            raise
        finally:
            if deadline is not None:
                self.deadlines.discard(waiter)
        if conn.keep_alive and conn.transport is not None:
            self._release(conn)
        else:
            self._discard(conn)
        return response

    async def _resend(self, head: RequestHead, body: bytes, deadline: float | None) -> HTTPResponse:
        """The server closed a kept-alive connection while it idled and received nothing of
        this request, so the request is sent once more, on a fresh connection in the same
        slot (a fresh connection is never stale, so this happens at most once)."""
        try:
            fresh = await self._connect(head.origin, deadline)
            response = await self._exchange(fresh, head, body, deadline)
        except Exception as exc:
            raise ResentAndFailed(str(exc)) from exc
        return replace(response, attempts=2)

    async def _acquire(self, key: Key, deadline: float | None) -> Connection:
        if self.closed:
            raise ConnectionError(_CLOSED)
        if self.slots_used < self.limit:
            self.slots_used += 1
        elif not self._evict_idle():
            handed = await self._wait(key, deadline)
            if handed is not None:
                return handed
        return await self._connect(key, deadline)

    async def _wait(self, key: Key, deadline: float | None) -> Connection | None:
        """Queue for a slot: resolves to an idle connection for `key`, or None (a free slot)."""
        waiter: asyncio.Future[Connection | None] = self.loop.create_future()
        self.waiters.append((key, waiter))
        if deadline is not None:
            self.deadlines.add(waiter, deadline)
        try:
            return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                handed = waiter.result()  # handed over just as we were cancelled: give back
                if handed is None or handed.transport is None:
                    self._free_slot()
                else:
                    self._release(handed)
            raise
        finally:
            if deadline is not None:
                self.deadlines.discard(waiter)

    async def _connect(self, key: Key, deadline: float | None) -> Connection:
        """Open a connection in a slot already held; the slot is freed if that fails."""
        try:
            if self.closed:
                raise ConnectionError(_CLOSED)
            scheme, host, port = key
            tls = self._tls() if scheme == "https" else None
            opening = self.loop.create_connection(
                partial(Connection, self, key), host, port, ssl=tls,
                server_hostname=host if tls else None,
            )  # fmt: skip
            limit = self.connect_timeout
            if deadline is not None:
                left = deadline - self.loop.time()
                limit = left if limit is None else min(limit, left)
            # Once per new connection, not per request, so wait_for's cost is acceptable.
            _, conn = await (opening if limit is None else asyncio.wait_for(opening, limit))
            if self.closed:
                conn.abort()
                raise ConnectionError(_CLOSED)
        except BaseException:
            self._free_slot()
            raise
        return conn

    def _tls(self) -> ssl.SSLContext:
        if self.ssl_context is None:  # loading the CA store costs ms: only if HTTPS is used
            self.ssl_context = ssl.create_default_context()
        return self.ssl_context

    def _release(self, conn: Connection) -> None:
        """Hand a healthy connection to the first waiter, or park it idle."""
        while self.waiters:
            key, waiter = self.waiters.popleft()
            if waiter.done():  # timed out or cancelled while queued
                continue
            if key == conn.key:
                waiter.set_result(conn)
            else:  # another origin: close this one and pass its slot on
                conn.abort()
                waiter.set_result(None)
            return
        self.idle[conn.key][conn] = None

    def _discard(self, conn: Connection) -> None:
        conn.abort()
        self._free_slot()

    def _free_slot(self) -> None:
        while self.waiters:
            _, waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes straight to the waiter
                return
        self.slots_used -= 1

    def _evict_idle(self) -> bool:
        """Close the oldest idle connection to another origin, keeping its slot."""
        for idle in self.idle.values():
            if idle:
                conn = next(iter(idle))
                del idle[conn]
                conn.abort()
                return True
        return False

    def forget(self, conn: Connection) -> None:
        """`connection_lost` bookkeeping: an idle connection's slot is freed here."""
        self.connections.discard(conn)
        idle = self.idle.get(conn.key)
        if idle is not None and conn in idle:
            del idle[conn]
            self._free_slot()
        if not self.connections and self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    async def close(self) -> None:
        """Abort every connection, fail every waiter, and wait until all sockets are shut."""
        self.closed = True
        self.deadlines.close()
        self.idle.clear()
        for _, waiter in self.waiters:
            if not waiter.done():
                waiter.set_exception(ConnectionError(_CLOSED))
        self.waiters.clear()
        for conn in list(self.connections):
            conn.abort()
        if self.connections:
            self._drained = self.loop.create_future()
            await self._drained
