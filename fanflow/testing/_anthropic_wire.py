"""The mock server's `POST /v1/messages`: Anthropic's Messages API wire format.

The handler is the server's own (it gets the Messages request body) and answers as for
chat completions: text, ``{"tool_calls": [...]}``, or raw Anthropic fields
(``{"content": [...], "stop_reason": ...}``, with optional response ``"headers"`` such as
``anthropic-ratelimit-*``); ``{"status": 529, "error": {...},
"retry_after": s}`` answers with that Anthropic error. When the request forces a tool
(structured output), a text answer is taken as the JSON of that tool's input. Faults
apply as on chat completions.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Coroutine, Mapping
from typing import Any

import orjson

from fanflow.testing._faults import FaultPicker
from fanflow.testing._responses import (
    Arrival,
    Decision,
    Delivery,
    Reply,
    estimate_tokens,
    redeliver,
)

# The server is typed `Any`: importing MockServer here would make an import cycle.
MockServer = Any

__all__ = ["anthropic_error", "messages_decision"]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def messages_decision(server: MockServer, request: Any) -> Decision:
    """The answer to one `/v1/messages` request (recorded and faulted like chat ones)."""
    if request.method != b"POST":
        return anthropic_error(405, "Method not allowed: POST /v1/messages.")
    arrival = Arrival(time.monotonic(), body=request.body if server.record else None)
    server.arrivals.append(arrival)
    request.arrival = arrival
    picker: FaultPicker | None = server._picker
    if picker is not None and (fault := picker.pick()) is not None:
        arrival.fault = fault
        server.faults_applied[fault] += 1
        if fault != "slow_body":
            return picker.reply(fault, arrival)
        return _slowly(_answer(server, request), picker.slow)
    return _answer(server, request)


def _slowly(decision: Decision, delivery: Delivery) -> Decision:
    if isinstance(decision, Reply):
        return redeliver(decision, delivery)
    return _slowly_later(decision, delivery)


async def _slowly_later(pending: Coroutine[Any, Any, Reply], delivery: Delivery) -> Reply:
    return redeliver(await pending, delivery)


def _answer(server: MockServer, request: Any) -> Decision:
    try:
        body = orjson.loads(request.body)
    except orjson.JSONDecodeError as exc:
        return anthropic_error(400, f"The request body is not valid JSON: {exc}")
    problem = _invalid(body)
    if problem:
        return anthropic_error(400, problem)
    if server.record:
        server.request_log.append(body)
    try:
        answer = server.handler(body)
    except Exception as exc:
        return anthropic_error(500, f"mock handler raised {type(exc).__name__}: {exc}")
    if not isinstance(answer, str) and inspect.isawaitable(answer):
        return _later(server, body, answer)
    return _complete(server, body, answer)


def _invalid(body: Any) -> str | None:
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return "The request body must be a JSON object with a `messages` list."
    if not isinstance(body.get("max_tokens"), int):
        return "max_tokens: Field required"
    if not isinstance(body.get("model"), str):
        return "model: Field required"
    if body.get("stream"):
        return "The mock server does not stream: send `stream: false`."
    return None


async def _later(server: MockServer, body: dict[str, Any], pending: Awaitable[Any]) -> Reply:
    try:
        answer = await pending
    except Exception as exc:
        return anthropic_error(500, f"mock handler raised {type(exc).__name__}: {exc}")
    return _complete(server, body, answer)


def _complete(server: MockServer, body: dict[str, Any], answer: object) -> Reply:
    reply = messages_reply(body, answer, server.completions_total + 1)
    if reply.status == 200:
        server.completions_total += 1
        if server._waiters:
            server._wake_waiters()
    return reply


def messages_reply(body: dict[str, Any], answer: object, number: int) -> Reply:
    """The handler's `answer` as an Anthropic ``message`` object (or an error reply)."""
    if isinstance(answer, Mapping) and "status" in answer:
        return _error_answer(answer)
    try:
        content, stop_reason = _content(body, answer, number)
        headers = _headers(answer)
    except (TypeError, KeyError, ValueError) as exc:
        return anthropic_error(500, f"mock handler answer unusable: {exc}")
    output = sum(estimate_tokens(_block_text(block)) for block in content)
    message = {
        "id": f"msg_mock_{number}",
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": _input_tokens(body), "output_tokens": output},
    }
    return Reply(200, orjson.dumps(message), headers)


def _headers(answer: object) -> tuple[tuple[bytes, bytes], ...]:
    given = answer.get("headers") if isinstance(answer, Mapping) else None
    return tuple((str(k).encode(), str(v).encode()) for k, v in (given or {}).items())


def _content(body: dict[str, Any], answer: object, number: int) -> tuple[list[Any], str]:
    forced = body.get("tool_choice") or {}
    if isinstance(answer, str):
        if forced.get("type") == "tool":
            block = _tool_use(forced["name"], orjson.loads(answer), number, 0)
            return [block], "tool_use"
        return [{"type": "text", "text": answer}], "end_turn"
    if isinstance(answer, Mapping) and "content" in answer:
        return list(answer["content"]), str(answer.get("stop_reason", "end_turn"))
    if isinstance(answer, Mapping) and "tool_calls" in answer:
        if not body.get("tools"):
            raise ValueError("returned tool_calls but the request declared no `tools`")
        blocks = []
        for index, call in enumerate(answer["tool_calls"]):
            given = call.get("arguments", {})
            blocks.append(
                _tool_use(
                    call["name"],
                    orjson.loads(given) if isinstance(given, str) else given,
                    number,
                    index,
                )
            )
        return blocks, "tool_use"
    raise TypeError(
        f"expected str, {{'tool_calls': [...]}} or {{'content': [...]}}, got {answer!r}"
    )


def _tool_use(name: str, given: Any, number: int, index: int) -> dict[str, Any]:
    return {"type": "tool_use", "id": f"toolu_mock_{number}_{index}", "name": name, "input": given}


def _block_text(block: Any) -> str:
    if not isinstance(block, dict):
        return ""
    if block.get("type") == "text":
        return str(block.get("text", ""))
    return orjson.dumps(block.get("input")).decode()


def _input_tokens(body: dict[str, Any]) -> int:
    system = body.get("system")
    chars = len(system) if isinstance(system, str) else 0
    for message in body["messages"]:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            chars += sum(len(_block_text(block)) for block in content)
    return (chars + 3) // 4


def _error_answer(answer: Mapping[str, Any]) -> Reply:
    error = answer.get("error") or {}
    retry_after = answer.get("retry_after")
    headers = () if retry_after is None else ((b"retry-after", str(retry_after).encode()),)
    return anthropic_error(
        int(answer["status"]), str(error.get("message", "Overloaded")), headers=headers
    )


def anthropic_error(
    status: int, message: str, *, headers: tuple[tuple[bytes, bytes], ...] = ()
) -> Reply:
    """An error in Anthropic's shape: ``{"type": "error", "error": {type, message}}``."""
    kind = _ERROR_TYPES.get(status, "api_error")
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return Reply(status, orjson.dumps(body), headers)
