"""The mock server's `POST /api/chat`: Ollama's native chat wire format (non-streaming).

The same handler, faults and counters as `/v1/chat/completions`; only the bodies differ:
the handler gets Ollama's request body (``options``, ``format``, ``keep_alive``, tools)
and its answer is wrapped as Ollama wraps one (``message``, ``done_reason``,
``prompt_eval_count``, ``eval_count``). Errors are ``{"error": "..."}``, and a model the
server was not given in `models` is a 404 "model ... not found", as Ollama answers for a
model not pulled.
"""

from __future__ import annotations

import inspect
import time
from collections import Counter
from collections.abc import Awaitable, Coroutine, Mapping
from datetime import datetime, timezone
from typing import Any, Protocol

import orjson

from fanflow.testing._faults import FaultPicker
from fanflow.testing._responses import (
    Arrival,
    Decision,
    Delivery,
    Handler,
    HandlerResult,
    Reply,
    estimate_tokens,
    redeliver,
)

__all__ = ["ollama_chat", "ollama_chat_reply", "ollama_error"]

_NANOS_PER_TOKEN = 1_000_000  # plausible durations: tests may read them, nothing relies on them


class MockServer(Protocol):
    """The parts of `fanflow.testing.MockServer` this route uses (not imported: a cycle)."""

    record: bool
    handler: Handler
    arrivals: list[Arrival]
    request_log: list[dict[str, Any]]
    faults_applied: Counter[str]
    completions_total: int
    _picker: FaultPicker | None
    _models: tuple[str, ...]
    _waiters: list[Any]

    def _wake_waiters(self) -> None: ...


def ollama_error(status: int, message: str) -> Reply:
    """Ollama's error body: ``{"error": "<message>"}``."""
    return Reply(status, orjson.dumps({"error": message}))


def ollama_chat(server: MockServer, request: Any) -> Decision:
    """The answer to one `/api/chat` request: recorded and faulted like OpenAI chat ones."""
    if request.method != b"POST":
        return ollama_error(405, "405 method not allowed: POST /api/chat")
    arrival = Arrival(time.monotonic(), body=request.body if server.record else None)
    server.arrivals.append(arrival)
    request.arrival = arrival
    picker = server._picker
    if picker is not None and (fault := picker.pick()) is not None:
        arrival.fault = fault
        server.faults_applied[fault] += 1
        if fault != "slow_body":
            return picker.reply(fault, arrival)
        return _deliver_as(_chat(server, request.body), picker.slow)
    return _chat(server, request.body)


def _chat(server: MockServer, raw: bytes) -> Decision:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return ollama_error(400, f"invalid character in request body: {exc}")
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return ollama_error(400, "the request body must be a JSON object with a messages list")
    if body.get("stream", True):  # Ollama streams unless told not to
        return ollama_error(400, 'the mock server does not stream: send "stream": false')
    model = body.get("model")
    if model not in server._models:
        return ollama_error(404, f'model "{model}" not found, try pulling it first')
    if server.record:
        server.request_log.append(body)
    try:
        answer = server.handler(body)
    except Exception as exc:
        return ollama_error(500, f"mock handler raised {type(exc).__name__}: {exc}")
    if not isinstance(answer, str) and inspect.isawaitable(answer):
        return _chat_later(server, body, answer)
    return _complete(server, body, answer)


async def _chat_later(
    server: MockServer, body: dict[str, Any], pending: Awaitable[HandlerResult]
) -> Reply:
    try:
        answer = await pending
    except Exception as exc:
        return ollama_error(500, f"mock handler raised {type(exc).__name__}: {exc}")
    return _complete(server, body, answer)


def _complete(server: MockServer, body: dict[str, Any], answer: object) -> Reply:
    reply = ollama_chat_reply(body, answer)
    if reply.status == 200:
        server.completions_total += 1
        if server._waiters:
            server._wake_waiters()
    return reply


def ollama_chat_reply(body: dict[str, Any], answer: object) -> Reply:
    """Wrap the handler's `answer` (text, ``{"tool_calls": [...]}`` or a raw
    ``{"message": {...}, "finish_reason": ...}``) as Ollama's chat answer, or a 500."""
    done_reason = "stop"
    if isinstance(answer, str):
        message: dict[str, Any] = {"role": "assistant", "content": answer}
    elif isinstance(answer, Mapping) and isinstance(answer.get("message"), Mapping):
        message, done_reason = dict(answer["message"]), answer.get("finish_reason", "stop")
    elif isinstance(answer, Mapping) and "tool_calls" in answer:
        if not body.get("tools"):
            return ollama_error(500, "mock handler returned tool_calls but no tools were given")
        try:
            calls = _tool_calls(answer["tool_calls"])
        except (TypeError, KeyError, orjson.JSONDecodeError) as exc:
            return ollama_error(500, f"mock handler returned malformed tool_calls ({exc})")
        message = {"role": "assistant", "content": "", "tool_calls": calls}
    else:
        return ollama_error(
            500,
            f"mock handler returned {type(answer).__name__}; expected str, "
            "{'tool_calls': [...]} or {'message': {...}}",
        )
    prompt = _prompt_tokens(body["messages"])
    completion = estimate_tokens(_answered_text(message))
    chat = {
        "model": body.get("model"),
        "created_at": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
        "message": message,
        "done": True,
        "done_reason": done_reason,
        "total_duration": (prompt + completion) * _NANOS_PER_TOKEN,
        "load_duration": 0,
        "prompt_eval_count": prompt,
        "prompt_eval_duration": prompt * _NANOS_PER_TOKEN,
        "eval_count": completion,
        "eval_duration": completion * _NANOS_PER_TOKEN,
    }
    return Reply(200, orjson.dumps(chat))


def _tool_calls(raw: object) -> list[dict[str, Any]]:
    """Handler tool calls (``name`` and ``arguments``) as Ollama sends them: arguments
    are an object, not JSON text."""
    if not isinstance(raw, list) or not raw:
        raise TypeError("tool_calls must be a non-empty list")
    calls = []
    for call in raw:
        if not isinstance(call, Mapping):
            raise TypeError(f"each tool call must be a dict, got {type(call).__name__}")
        name, arguments = call["name"], call.get("arguments", {})
        if isinstance(arguments, str):
            arguments = orjson.loads(arguments)
        if not isinstance(name, str) or not isinstance(arguments, dict):
            raise TypeError("a tool call needs a str name and object arguments")
        calls.append({"function": {"name": name, "arguments": arguments}})
    return calls


def _answered_text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    text = content if isinstance(content, str) else ""
    for call in message.get("tool_calls") or ():
        text += orjson.dumps(call.get("function", {}).get("arguments", {})).decode()
    return text


def _prompt_tokens(messages: list[Any]) -> int:
    chars = sum(
        len(m["content"])
        for m in messages
        if isinstance(m, dict) and isinstance(m.get("content"), str)
    )
    return (chars + 3) // 4


def _deliver_as(decision: Decision, delivery: Delivery) -> Decision:
    if isinstance(decision, Reply):
        return redeliver(decision, delivery)
    return _deliver_later_as(decision, delivery)


async def _deliver_later_as(pending: Coroutine[Any, Any, Reply], delivery: Delivery) -> Reply:
    return redeliver(await pending, delivery)
