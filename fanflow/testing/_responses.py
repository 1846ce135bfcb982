"""What the mock server puts on the wire: requests, replies and OpenAI-shaped bodies.

Nothing here touches sockets or the event loop, so every body can be built and checked
in isolation; a fault (a 429 with Retry-After, a 5xx, a malformed body) is just another
`Reply` value, and one that needs odd wire behaviour carries a `Delivery`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import orjson

__all__ = [
    "DROP",
    "HANG",
    "NOW",
    "Arrival",
    "Decision",
    "Delivery",
    "Handler",
    "HandlerResult",
    "Reply",
    "Request",
    "chat_completion_reply",
    "default_handler",
    "encode",
    "error_reply",
    "handler_error_reply",
    "models_reply",
    "redeliver",
]

HandlerResult: TypeAlias = "str | Mapping[str, Any]"
"""Assistant text, or ``{"tool_calls": [{"name": ..., "arguments": ...}, ...]}``, or a raw
answer ``{"message": {...}, "finish_reason": "length", "content_encoding": "gzip"}`` whose
message dict is sent as it is (``content`` null or a list of parts, tool calls nobody
asked for: odd answers that real servers send) with that finish reason (default
``"stop"``), its body compressed when ``content_encoding`` is ``"gzip"`` or ``"deflate"``."""

Handler: TypeAlias = "Callable[[dict[str, Any]], HandlerResult | Awaitable[HandlerResult]]"
"""Called with the parsed chat-completions request body; returns the assistant's answer."""

_REASONS: dict[int, bytes] = {
    200: b"OK",
    400: b"Bad Request",
    401: b"Unauthorized",
    404: b"Not Found",
    405: b"Method Not Allowed",
    429: b"Too Many Requests",
    500: b"Internal Server Error",
    502: b"Bad Gateway",
    503: b"Service Unavailable",
    504: b"Gateway Timeout",
}


@dataclass(slots=True)
class Arrival:
    """One chat request as the server saw it: when, which fault, which status.

    `time` is `time.monotonic()` when the server started on the request (its arrival,
    unless the client pipelines); `status` is None until the answer's headers are sent,
    and stays None for ``drop``, ``hang`` and answers cut short by `stop()`;
    `retry_after` is the pause a 429 (or a 5xx with Retry-After) asked for, in seconds
    from `time`; `body` is the request body, kept only when the server records.
    """

    time: float
    fault: str | None = None
    status: int | None = None
    retry_after: float | None = None
    body: bytes | None = None


class Request:
    """One parsed HTTP request; the path has its query string removed.

    `arrival` is set by the server on chat requests, for `Connection` to record the status.
    """

    __slots__ = ("arrival", "body", "method", "path")

    def __init__(self, method: bytes, path: bytes, body: bytes) -> None:
        self.method = method
        self.path = path
        self.body = body
        self.arrival: Arrival | None = None


class Delivery:
    """How `Connection` puts a reply on the wire when not simply "write it after the latency".

    `kind` is ``"now"`` (skip the latency: a gateway rejection), ``"drop"`` (hang up
    without answering), ``"hang"`` (never answer) or ``"slow_body"`` (headers and half the
    body, the rest `delay` seconds later). Use the `NOW`, `DROP` and `HANG` constants.
    """

    __slots__ = ("delay", "kind")

    def __init__(self, kind: str, delay: float = 0.0) -> None:
        self.kind = kind
        self.delay = delay

    def __repr__(self) -> str:
        return f"Delivery({self.kind!r}, {self.delay!r})"


NOW = Delivery("now")
DROP = Delivery("drop")
HANG = Delivery("hang")


class Reply:
    """One HTTP answer: JSON body, extra header lines, whether to close, how to deliver."""

    __slots__ = ("body", "close", "delivery", "headers", "status")

    def __init__(
        self,
        status: int,
        body: bytes,
        headers: Sequence[tuple[bytes, bytes]] = (),
        *,
        close: bool = False,
        delivery: Delivery | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.headers = headers
        self.close = close
        self.delivery = delivery


def redeliver(reply: Reply, delivery: Delivery) -> Reply:
    """A copy of `reply` delivered as `delivery` (replies may be shared, so never mutated)."""
    return Reply(reply.status, reply.body, reply.headers, close=reply.close, delivery=delivery)


def encode(reply: Reply, keep_alive: bool) -> bytes:
    """Serialise `reply` as one HTTP/1.1 message, always with Content-Length."""
    head = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n" % (
        reply.status,
        _REASONS.get(reply.status, b"Unknown"),
        len(reply.body),
    )
    for name, value in reply.headers:
        head += name + b": " + value + b"\r\n"
    if not keep_alive:
        head += b"connection: close\r\n"
    return head + b"\r\n" + reply.body


def error_reply(
    status: int,
    message: str,
    code: str | None,
    *,
    kind: str = "invalid_request_error",
    close: bool = False,
    headers: Sequence[tuple[bytes, bytes]] = (),
    delivery: Delivery | None = None,
) -> Reply:
    """An OpenAI-style error body, so SDK clients raise their usual typed errors."""
    error = {"message": message, "type": kind, "param": None, "code": code}
    body = orjson.dumps({"error": error})
    return Reply(status, body, headers, close=close, delivery=delivery)


def models_reply(models: Sequence[str], created: int) -> Reply:
    """The ``GET /v1/models`` listing; built once at start since it never changes."""
    data = [{"id": m, "object": "model", "created": created, "owned_by": "fanflow"} for m in models]
    return Reply(200, orjson.dumps({"object": "list", "data": data}))


def default_handler(body: dict[str, Any]) -> str:
    """Deterministic text derived from the last user message, so tests can predict it."""
    for message in reversed(body["messages"]):
        if isinstance(message, dict) and message.get("role") == "user":
            return "mock answer: " + _text_of(message.get("content"))[:200]
    return "mock answer: "


def chat_completion_reply(
    body: dict[str, Any], answer: object, number: int, usage: str = "full"
) -> Reply:
    """Wrap the handler's `answer` in a ``chat.completion`` object, or a 500 if unusable.

    `usage` is ``"full"`` (prompt, completion and total tokens), ``"total"`` (only
    ``total_tokens``, as some servers send) or ``"none"`` (no ``usage`` object at all).
    """
    encoding = None
    if isinstance(answer, str):
        message: dict[str, Any] = {"role": "assistant", "content": answer}
        finish_reason = "stop"
        completion_tokens = estimate_tokens(answer)
    elif isinstance(answer, Mapping) and isinstance(answer.get("message"), Mapping):
        message, finish_reason = dict(answer["message"]), answer.get("finish_reason", "stop")
        encoding = answer.get("content_encoding")
        completion_tokens = estimate_tokens(_text_of(message.get("content")))
    elif isinstance(answer, Mapping) and "tool_calls" in answer:
        if not body.get("tools"):
            return _handler_misuse("returned tool_calls but the request declared no `tools`")
        try:
            calls = _tool_calls(answer["tool_calls"], number)
        except (TypeError, KeyError) as exc:
            return _handler_misuse(f"returned malformed tool_calls ({exc})")
        message = {"role": "assistant", "content": None, "tool_calls": calls}
        finish_reason = "tool_calls"
        completion_tokens = sum(estimate_tokens(c["function"]["arguments"]) for c in calls)
    else:
        return _handler_misuse(
            f"returned {type(answer).__name__}; expected str, {{'tool_calls': [...]}} or "
            "{'message': {...}}"
        )
    prompt_tokens = _prompt_tokens(body["messages"])
    completion = {
        "id": f"chatcmpl-mock-{number}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model") or "mock-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
    if usage != "full":
        total = prompt_tokens + completion_tokens
        if usage == "total":
            completion["usage"] = {"total_tokens": total}
        else:
            del completion["usage"]
    if encoding is None:
        return Reply(200, orjson.dumps(completion))
    return _encoded_reply(orjson.dumps(completion), encoding)


def _encoded_reply(body: bytes, encoding: str) -> Reply:
    """A 200 whose body is compressed, as some proxies send although asked for identity."""
    import zlib  # only the few tests of odd servers need it

    if encoding not in ("gzip", "deflate"):
        return _handler_misuse(f"asked for content_encoding {encoding!r}; use gzip or deflate")
    wbits = 31 if encoding == "gzip" else 15  # 31: gzip framing; 15: zlib (HTTP "deflate")
    compressor = zlib.compressobj(wbits=wbits)
    compressed = compressor.compress(body) + compressor.flush()
    return Reply(200, compressed, ((b"content-encoding", encoding.encode()),))


def handler_error_reply(exc: BaseException) -> Reply:
    """A 500 naming the handler's exception, so a failing test says why."""
    return error_reply(
        500,
        f"mock handler raised {type(exc).__name__}: {exc}",
        "handler_error",
        kind="server_error",
    )


def estimate_tokens(text: str) -> int:
    """About four characters per token: the usual rule of thumb, and O(1) to compute."""
    return (len(text) + 3) // 4


def _prompt_tokens(messages: list[Any]) -> int:
    """Token estimate of all message contents; one loop, as it runs on every request."""
    chars = 0
    for message in messages:
        if isinstance(message, dict):
            content = message.get("content")
            chars += len(content) if isinstance(content, str) else len(_text_of(content))
    return (chars + 3) // 4


def _text_of(content: object) -> str:
    """Message content as text: a string as is, text parts of a multimodal list joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def _tool_calls(raw: object, number: int) -> list[dict[str, Any]]:
    """Handler tool calls (``name`` and ``arguments``) in the OpenAI wire form."""
    if not isinstance(raw, list) or not raw:
        raise TypeError("tool_calls must be a non-empty list")
    calls = []
    for index, call in enumerate(raw):
        if not isinstance(call, Mapping):
            raise TypeError(f"each tool call must be a dict, got {type(call).__name__}")
        name = call["name"]
        arguments = call.get("arguments", "{}")
        if not isinstance(arguments, str):
            arguments = orjson.dumps(arguments).decode()
        if not isinstance(name, str):
            raise TypeError(f"tool call name must be a str, got {type(name).__name__}")
        calls.append(
            {
                "id": f"call_mock_{number}_{index}",
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            }
        )
    return calls


def _handler_misuse(problem: str) -> Reply:
    return error_reply(500, f"mock handler {problem}", "handler_error", kind="server_error")


Decision: TypeAlias = "Reply | Coroutine[Any, Any, Reply]"
"""What the server answers a request with: a reply now, or one still being made."""
