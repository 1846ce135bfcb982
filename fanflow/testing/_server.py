"""The in-process mock server: one `asyncio.Protocol` per connection, httptools to parse.

No web framework on purpose: a request costs one parse, one orjson round trip and one
socket write, so in benchmarks the server stays far cheaper than the client it serves.
"""

from __future__ import annotations

import asyncio
import inspect
import ipaddress
import time
from collections import Counter
from collections.abc import Awaitable, Coroutine, Sequence
from functools import partial
from typing import Any

import orjson

from fanflow.testing._anthropic_wire import messages_decision
from fanflow.testing._batch_wire import BatchWire
from fanflow.testing._connection import Connection
from fanflow.testing._faults import FaultPicker, Faults, early_resends, early_retries
from fanflow.testing._ollama_wire import ollama_chat
from fanflow.testing._responses import (
    Arrival,
    Decision,
    Delivery,
    Handler,
    HandlerResult,
    Reply,
    Request,
    chat_completion_reply,
    default_handler,
    error_reply,
    handler_error_reply,
    models_reply,
    redeliver,
)

__all__ = ["MockServer"]

"""A reply ready now, or a coroutine that produces one (an async handler is running)."""


class MockServer:
    """A fast OpenAI-compatible HTTP server on 127.0.0.1, for tests and benchmarks.

    `handler` gets the parsed chat-completions body and returns the assistant text (or
    ``{"tool_calls": [...]}``, or a raw ``{"message": {...}, "finish_reason": ...}`` for
    odd answers: see `HandlerResult`), sync or async; `latency` seconds are added before every
    answer. Counters `requests_total` and `completions_total` are always kept (and
    `await wait_for(requests=n)` / `wait_for(completions=n)` waits until one reaches `n`,
    so a test need not poll); the request bodies go to `request_log` only with
    ``record=True``, to stay cheap.

    `usage` is what answers report of their tokens: ``"full"``, ``"total"`` (only
    ``total_tokens``) or ``"none"`` (no ``usage`` object), as some servers do.

    `faults` (a `Faults`, settable while running: assigning re-seeds it and restarts its
    script) injects errors, drops, hangs and slow or broken bodies into chat answers.
    Every chat request is recorded in `arrivals` (an `Arrival`: time, fault, status; about
    100 bytes each, so clear the list in very long runs), and `faults_applied` counts the
    faults by name.
    """

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        record: bool = False,
        models: Sequence[str] = ("mock-model",),
        faults: Faults | None = None,
        usage: str = "full",
    ) -> None:
        if handler is not None and not callable(handler):
            raise TypeError(f"MockServer handler must be callable, got {type(handler).__name__}")
        if not latency >= 0:
            raise ValueError(f"MockServer latency must be >= 0 seconds, got {latency!r}")
        if isinstance(models, str) or not models:
            raise ValueError(f"MockServer models must be a non-empty list of ids, got {models!r}")
        if usage not in ("full", "total", "none"):
            raise ValueError(f"MockServer usage must be 'full', 'total' or 'none', got {usage!r}")
        _require_loopback(host)
        self.usage = usage
        self.handler: Handler = handler if handler is not None else default_handler
        self.latency = float(latency)
        self.record = record
        self.requests_total = 0
        self.completions_total = 0
        self.request_log: list[dict[str, Any]] = []
        self.arrivals: list[Arrival] = []
        self.faults_applied: Counter[str] = Counter()
        self._faults: Faults | None = None
        self._picker: FaultPicker | None = None
        self.faults = faults
        self._host = host
        self._requested_port = port
        self._bound_port: int | None = None
        self._models = tuple(models)
        self._models_reply = models_reply(self._models, int(time.time()))
        self._server: asyncio.Server | None = None
        self._connections: set[Connection] = set()
        self._all_closed: asyncio.Future[None] | None = None
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        # The Batch API (/v1/files, /v1/batches): its lines go through the chat handler.
        self.batches = BatchWire(self._batch_line)

    @property
    def faults(self) -> Faults | None:
        """The faults in force; assign a new `Faults` (or None) at any time."""
        return self._faults

    @faults.setter
    def faults(self, faults: Faults | None) -> None:
        if faults is not None and not isinstance(faults, Faults):
            raise TypeError(f"MockServer faults must be a Faults or None, got {faults!r}")
        self._faults = faults
        self._picker = FaultPicker(faults) if faults is not None and faults.active else None

    def early_retries(self, tolerance: float = 0.0, *, grace: float = 0.0) -> list[Arrival]:
        """Chat requests that arrived while a 429's Retry-After was still running.

        The server cannot tell which request retries which, so the rule is server-wide:
        after a 429 sent at `t` asking `r` seconds, no chat request may arrive in
        ``(t + grace, t + r - tolerance)``. It suits clients that pause together after
        a 429 (as the engine does when an endpoint's quota is spent); for the engine's
        usual per-request waits use `early_resends`. `tolerance` forgives clients that
        resume slightly early;
        `grace` forgives requests already on their way when the 429 was sent, which
        concurrent clients always have.
        """
        return early_retries(self.arrivals, tolerance, grace=grace)

    def early_resends(self, tolerance: float = 0.0) -> list[Arrival]:
        """Requests sent again before the Retry-After their earlier copy got had run out.

        Per request, unlike `early_retries`: a copy is a request with the same body, so
        it needs ``record=True`` and distinct prompts. It suits clients that keep other
        requests going while one waits out its own Retry-After.
        """
        return early_resends(self.arrivals, tolerance)

    @property
    def port(self) -> int:
        """The bound TCP port (the one picked by the OS when created with ``port=0``)."""
        if self._bound_port is None:
            raise RuntimeError("MockServer has no port yet: call `await server.start()` first")
        return self._bound_port

    @property
    def base_url(self) -> str:
        """The OpenAI ``base_url`` to give clients, e.g. ``http://127.0.0.1:PORT/v1``."""
        return f"http://{self._host}:{self.port}/v1"

    async def start(self) -> None:
        """Bind and start accepting connections; ``port=0`` picks a free port."""
        if self._server is not None:
            raise RuntimeError("MockServer is already running: call `await server.stop()` first")
        loop = asyncio.get_running_loop()
        factory = partial(Connection, self, loop)
        server = await loop.create_server(factory, self._host, self._requested_port, backlog=1024)
        self._server = server
        self._bound_port = int(server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Close the listener and every open connection; pending answers are dropped."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        self.batches.cancel_all()
        tasks = [task for conn in list(self._connections) if (task := conn.abort()) is not None]
        if self._connections:
            self._all_closed = asyncio.get_running_loop().create_future()
            await self._all_closed
            self._all_closed = None
        await server.wait_closed()
        if tasks:
            # Cancelled async handlers: let them unwind so nothing outlives the server.
            await asyncio.wait(tasks, timeout=5.0)

    async def __aenter__(self) -> MockServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def wait_for(self, *, requests: int = 0, completions: int = 0) -> None:
        """Return once at least `requests` requests arrived and `completions` answered."""
        if self.requests_total >= requests and self.completions_total >= completions:
            return
        reached: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((requests, completions, reached))
        await reached

    def count_request(self) -> None:
        """One more request arrived (the connection calls this)."""
        self.requests_total += 1
        if self._waiters:
            self._wake_waiters()

    def _wake_waiters(self) -> None:
        waiting = []
        for requests, completions, reached in self._waiters:
            if self.requests_total >= requests and self.completions_total >= completions:
                if not reached.done():
                    reached.set_result(None)
            else:
                waiting.append((requests, completions, reached))
        self._waiters = waiting

    @property
    def running(self) -> bool:
        """Whether the server is accepting connections."""
        return self._server is not None

    def decide(self, request: Request) -> Decision:
        """Choose the answer to one request: the single seam for routing and faults.

        Faults (a 5xx, a 429 with Retry-After, a malformed body) are other `Reply`
        values; dropped connections, hangs and slow bodies are `Reply.delivery` values
        that `Connection._send` honours. Only chat requests are recorded and faulted.
        """
        if request.path == b"/v1/chat/completions":
            if request.method != b"POST":
                return _method_not_allowed(request)
            arrival = Arrival(time.monotonic(), body=request.body if self.record else None)
            self.arrivals.append(arrival)
            request.arrival = arrival
            picker = self._picker
            if picker is not None and (fault := picker.pick()) is not None:
                return self._fault(picker, fault, arrival, request)
            return self._chat(request.body)
        if request.path == b"/api/chat":  # Ollama's native chat (fanflow.OllamaAdapter)
            return ollama_chat(self, request)
        if request.path == b"/v1/messages":  # Anthropic's Messages API
            return messages_decision(self, request)
        if request.path == b"/v1/models":
            if request.method != b"GET":
                return _method_not_allowed(request)
            return self._models_reply
        if BatchWire.serves(request.path):
            return self.batches.decide(request)
        return error_reply(
            404,
            f"Unknown request URL: {_describe(request)}. The mock server serves"
            " POST /v1/chat/completions and GET /v1/models.",
            "unknown_url",
        )

    def _batch_line(self, raw: bytes) -> Decision:
        """One line of a Batch API job: the chat answer, or the fault the knobs pick for
        it. A line has no connection to drop, hang or send slowly, and a batch's output is
        JSON: those faults, and a malformed body, become a 500 line."""
        picker = self._picker
        if picker is None or (fault := picker.pick()) is None:
            return self._chat(raw)
        self.faults_applied[fault] += 1
        if fault in ("server_error", "rate_limit", "unauthorized"):
            return picker.reply(fault, Arrival(time.monotonic(), fault=fault))
        return error_reply(500, f"The mock server's fault {fault!r} hit this line.", "server_error")

    def _fault(
        self, picker: FaultPicker, fault: str, arrival: Arrival, request: Request
    ) -> Decision:
        """The answer for a faulted chat request; only ``slow_body`` runs the handler."""
        arrival.fault = fault
        self.faults_applied[fault] += 1
        if fault == "slow_body":
            return _deliver_as(self._chat(request.body), picker.slow)
        return picker.reply(fault, arrival)

    def _chat(self, raw: bytes) -> Decision:
        """Validate a chat-completions body and run the handler on it."""
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return error_reply(
                400, f"We could not parse the JSON body of your request: {exc}", "invalid_json"
            )
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return error_reply(
                400,
                "The request body must be a JSON object with a `messages` list.",
                "invalid_request",
            )
        if body.get("stream"):
            return error_reply(
                400, "The mock server does not stream: send `stream: false`.", "unsupported_stream"
            )
        if self.record:
            self.request_log.append(body)
        try:
            answer = self.handler(body)
        except Exception as exc:
            return handler_error_reply(exc)
        if not isinstance(answer, str) and inspect.isawaitable(answer):
            return self._chat_later(body, answer)
        return self._complete(body, answer)

    async def _chat_later(self, body: dict[str, Any], pending: Awaitable[HandlerResult]) -> Reply:
        """Finish a request whose handler is async."""
        try:
            answer = await pending
        except Exception as exc:
            return handler_error_reply(exc)
        return self._complete(body, answer)

    def _complete(self, body: dict[str, Any], answer: object) -> Reply:
        reply = chat_completion_reply(body, answer, self.completions_total + 1, self.usage)
        if reply.status == 200:
            self.completions_total += 1
            if self._waiters:
                self._wake_waiters()
        return reply

    def opened(self, conn: Connection) -> None:
        """A connection was accepted (the connection calls this)."""
        self._connections.add(conn)

    def closed(self, conn: Connection) -> None:
        """Called when a connection is gone; wakes `stop()` once the last one is."""
        self._connections.discard(conn)
        if not self._connections and self._all_closed is not None and not self._all_closed.done():
            self._all_closed.set_result(None)


def _deliver_as(decision: Decision, delivery: Delivery) -> Decision:
    if isinstance(decision, Reply):
        return redeliver(decision, delivery)
    return _deliver_later_as(decision, delivery)


async def _deliver_later_as(pending: Coroutine[Any, Any, Reply], delivery: Delivery) -> Reply:
    return redeliver(await pending, delivery)


def _method_not_allowed(request: Request) -> Reply:
    return error_reply(
        405,
        f"{_describe(request)}: method not allowed on this path.",
        "method_not_allowed",
    )


def _describe(request: Request) -> str:
    """``METHOD /path`` for error messages; latin-1 never fails on odd bytes."""
    return f"{request.method.decode('latin-1')} {request.path.decode('latin-1')}"


def _require_loopback(host: str) -> None:
    """The mock must never listen beyond this machine: only IPv4 loopback addresses."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None or address.version != 4 or not address.is_loopback:
        raise ValueError(
            f"MockServer host must be an IPv4 loopback address such as 127.0.0.1, got {host!r}"
        )
