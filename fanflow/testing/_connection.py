"""One client connection of the mock server: parse with httptools, answer in order.

Knows HTTP, not OpenAI: what to answer is `MockServer.decide`'s job, so this file only
changes when the wire behaviour does (the drop, hang and slow-body faults live here).
"""

from __future__ import annotations

import asyncio
from collections import deque
from functools import partial
from typing import TYPE_CHECKING, Protocol, cast

import httptools

from fanflow.testing._responses import (
    NOW,
    Decision,
    Delivery,
    Reply,
    Request,
    encode,
    error_reply,
    handler_error_reply,
)

if TYPE_CHECKING:
    from fanflow.testing._responses import Arrival

__all__ = ["Connection", "ConnectionOwner"]


class ConnectionOwner(Protocol):
    """What a connection needs of its server (`MockServer`, which sits above this module)."""

    @property
    def latency(self) -> float: ...
    @property
    def running(self) -> bool: ...
    def decide(self, request: Request) -> Decision: ...
    def count_request(self) -> None: ...
    def opened(self, conn: Connection) -> None: ...
    def closed(self, conn: Connection) -> None: ...


class Connection(asyncio.Protocol):
    """One client connection: parses requests and answers them in order, one at a time.

    Requests that arrive while one is being answered (HTTP pipelining) wait in a queue,
    so answers never overtake each other.
    """

    def __init__(self, server: ConnectionOwner, loop: asyncio.AbstractEventLoop) -> None:
        self._server = server
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._body = b""
        self._busy = False
        self._waiting: deque[tuple[Request, bool]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[Reply] | None = None
        self._arrival: Arrival | None = None  # of the request being answered, if a chat one

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # create_server: always a stream
        self._server.opened(self)
        if not self._server.running:  # accepted just as stop() ran
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._cancel_pending()
        self._server.closed(self)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            raise  # a bug in this module, not the client's fault: let asyncio log it
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            self._reject(f"Malformed HTTP request: {exc}")

    def abort(self) -> asyncio.Task[Reply] | None:
        """Drop the connection now, cancelling any pending answer; returns a running handler."""
        task = self._task
        self._cancel_pending()
        if self._transport is not None:
            self._transport.abort()
        return task

    # httptools callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._body = b""

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        request = Request(self._parser.get_method(), self._url.partition(b"?")[0], self._body)
        keep_alive = self._parser.should_keep_alive()
        self._server.count_request()
        if self._busy:
            self._waiting.append((request, keep_alive))
        else:
            self._start(request, keep_alive)

    # answering -------------------------------------------------------------------------

    def _start(self, request: Request, keep_alive: bool) -> None:
        self._busy = True
        decision = self._server.decide(request)
        self._arrival = request.arrival
        if isinstance(decision, Reply):
            self._schedule(decision, keep_alive)
        else:
            self._task = self._loop.create_task(decision)
            self._task.add_done_callback(partial(self._on_decided, keep_alive=keep_alive))

    def _on_decided(self, task: asyncio.Task[Reply], *, keep_alive: bool) -> None:
        if task is not self._task or task.cancelled():  # abort(): the connection is gone
            return
        self._task = None
        if (exc := task.exception()) is not None:
            self._schedule(handler_error_reply(exc), keep_alive)
        else:
            self._schedule(task.result(), keep_alive)

    def _schedule(self, reply: Reply, keep_alive: bool) -> None:
        """Send now, or after the latency via `call_later`: a timer is far cheaper than a task."""
        latency = self._server.latency
        if latency > 0 and reply.delivery is not NOW:
            self._timer = self._loop.call_later(latency, self._send, reply, keep_alive)
        else:
            self._send(reply, keep_alive)

    def _send(self, reply: Reply, keep_alive: bool) -> None:
        self._timer = None
        transport = self._transport
        if transport is None:
            return
        delivery = reply.delivery
        if delivery is not None and delivery is not NOW:
            self._deliver(reply, delivery, keep_alive, transport)
            return
        if (arrival := self._arrival) is not None:
            self._arrival = None
            arrival.status = reply.status
        keep_alive = keep_alive and not reply.close
        transport.write(encode(reply, keep_alive))
        self._finish(transport, keep_alive)

    def _finish(self, transport: asyncio.Transport, keep_alive: bool) -> None:
        """After an answer (or the second half of a slow body): hang up, or move on."""
        if not keep_alive:
            self._cancel_pending()
            transport.close()
            return
        self._busy = False
        if self._waiting:  # via the loop, not recursion: a long pipeline cannot overflow
            self._loop.call_soon(self._next)

    def _deliver(
        self, reply: Reply, delivery: Delivery, keep_alive: bool, transport: asyncio.Transport
    ) -> None:
        """The faulty deliveries: hang up, never answer, or send the body in two halves."""
        arrival, self._arrival = self._arrival, None
        if delivery.kind == "drop":
            self._cancel_pending()
            transport.close()
            return
        if delivery.kind == "hang":
            return  # stay busy: queued requests wait too, until the client or stop() hangs up
        if arrival is not None:
            arrival.status = reply.status
        keep_alive = keep_alive and not reply.close
        data = encode(reply, keep_alive)
        split = len(data) - (len(reply.body) + 1) // 2  # the head and the first half of the body
        transport.write(data[:split])
        self._timer = self._loop.call_later(
            delivery.delay, self._send_rest, data[split:], keep_alive
        )

    def _send_rest(self, rest: bytes, keep_alive: bool) -> None:
        self._timer = None
        if (transport := self._transport) is not None:
            transport.write(rest)
            self._finish(transport, keep_alive)

    def _next(self) -> None:
        if self._waiting and not self._busy and self._transport is not None:
            self._start(*self._waiting.popleft())

    def _reject(self, message: str) -> None:
        """Answer unparseable input with a 400 (if no answer is pending) and hang up."""
        transport = self._transport
        if transport is None:
            return
        if not self._busy:
            transport.write(encode(error_reply(400, message, "malformed_http"), False))
        self._cancel_pending()
        transport.close()

    def _cancel_pending(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._waiting.clear()
