"""Anthropic Messages API bodies: fanflow requests in, `Generation` parts out.

Pure functions (no I/O), so `AnthropicAdapter` stays a thin shell around the shared
OpenAI adapter machinery and each mapping can be tested on its own.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

from fanflow.adapters._types import GenerationRequest, RateLimitInfo, ToolCall, Usage

__all__ = [
    "OUTPUT_TOOL",
    "finish_reason",
    "messages_payload",
    "parse_content",
    "rate_limits",
    "usage_of",
]

OUTPUT_TOOL = "structured_output"
"""The name of the forced tool that carries structured output (a request's json_schema)."""

_WRAPPED = "value"  # input_schema must be an object: other schemas are wrapped in one

_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def messages_payload(request: GenerationRequest, model: str, max_tokens: int) -> dict[str, Any]:
    """The `/v1/messages` body: system prompts apart, `max_tokens` always present."""
    system = [m.content for m in request.messages if m.role == "system"]
    messages = [
        {"role": "assistant" if m.role == "assistant" else "user", "content": m.content}
        for m in request.messages
        if m.role != "system"
    ]
    payload: dict[str, Any] = {
        "model": model,
        "max_tokens": request.max_tokens if request.max_tokens is not None else max_tokens,
        "messages": messages,
    }
    if system:
        payload["system"] = "\n\n".join(system)
    if request.temperature is not None:
        payload["temperature"] = request.temperature
    tools = [_tool(tool) for tool in request.tools or ()]
    if request.json_schema is not None:
        tools.append(_output_tool(request.json_schema))
        payload["tool_choice"] = {"type": "tool", "name": OUTPUT_TOOL}
    if tools:
        payload["tools"] = tools
    if request.extra:
        extra = dict(request.extra)
        stop = extra.pop("stop", None)
        if stop is not None:  # OpenAI's `stop` is Anthropic's `stop_sequences`
            extra.setdefault("stop_sequences", [stop] if isinstance(stop, str) else stop)
        payload.update(extra)
    return payload


def _tool(tool: Mapping[str, Any]) -> Mapping[str, Any]:
    """An OpenAI-style function tool as an Anthropic tool; Anthropic-style ones as given."""
    function = tool.get("function")
    if tool.get("type") != "function" or not isinstance(function, Mapping):
        return tool
    converted: dict[str, Any] = {
        "name": function["name"],
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        converted["description"] = function["description"]
    return converted


def _output_tool(schema: dict[str, Any]) -> dict[str, Any]:
    if schema.get("type") != "object":
        schema = {"type": "object", "properties": {_WRAPPED: schema}, "required": [_WRAPPED]}
    return {
        "name": OUTPUT_TOOL,
        "description": "Give the answer as this tool's input.",
        "input_schema": schema,
    }


def parse_content(
    content: list[dict[str, Any]], request: GenerationRequest
) -> tuple[str, tuple[ToolCall, ...], bool]:
    """The answer text, the tool calls, and whether the forced output tool answered.

    With a json_schema, the output tool's input is the answer text (as JSON); other tool
    use blocks become `ToolCall`s whose arguments are their input as JSON text.
    """
    texts: list[str] = []
    calls: list[ToolCall] = []
    structured = request.json_schema is not None
    answered = False
    for block in content:
        kind = block["type"]
        if kind == "text":
            texts.append(block["text"])
        elif kind == "tool_use":
            given = block.get("input") or {}
            if structured and block["name"] == OUTPUT_TOOL:
                if request.json_schema is not None and request.json_schema.get("type") != "object":
                    given = given.get(_WRAPPED) if isinstance(given, dict) else given
                texts = [orjson.dumps(given).decode()]
                answered = True
                continue
            calls.append(
                ToolCall(
                    name=block["name"], arguments=orjson.dumps(given).decode(), id=block.get("id")
                )
            )
    return "".join(texts), tuple(calls), answered


def finish_reason(stop_reason: str | None, answered_by_output_tool: bool) -> str | None:
    """fanflow's (OpenAI's) finish reason for an Anthropic `stop_reason`."""
    if answered_by_output_tool and stop_reason == "tool_use":
        return "stop"
    if stop_reason is None:
        return None
    return _FINISH_REASONS.get(stop_reason, stop_reason)


def usage_of(raw: Any) -> Usage | None:
    """Input tokens (cache writes and reads included) and output tokens; None if absent."""
    if not isinstance(raw, dict):
        return None
    given, output = raw.get("input_tokens"), raw.get("output_tokens")
    if not isinstance(given, int) and not isinstance(output, int):
        return None
    # Cached prompt tokens are still prompt tokens: budgets count them all.
    cached = (raw.get("cache_creation_input_tokens") or 0) + (
        raw.get("cache_read_input_tokens") or 0
    )
    return Usage((given or 0) + cached, output or 0)


def rate_limits(headers: Mapping[str, str]) -> RateLimitInfo | None:
    """`anthropic-ratelimit-*` headers (resets are RFC 3339 times), or None without them."""
    limit_requests = headers.get("anthropic-ratelimit-requests-limit")
    limit_tokens = headers.get("anthropic-ratelimit-tokens-limit")
    if limit_requests is None and limit_tokens is None:
        return None
    return RateLimitInfo(
        limit_requests=_count(limit_requests),
        remaining_requests=_count(headers.get("anthropic-ratelimit-requests-remaining")),
        reset_requests_s=_seconds_until(headers.get("anthropic-ratelimit-requests-reset")),
        limit_tokens=_count(limit_tokens),
        remaining_tokens=_count(headers.get("anthropic-ratelimit-tokens-remaining")),
        reset_tokens_s=_seconds_until(headers.get("anthropic-ratelimit-tokens-reset")),
    )


def _count(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return max(0, int(float(text)))
    except (ValueError, OverflowError):
        return None


def _seconds_until(when: str | None) -> float | None:
    if when is None:
        return None
    try:
        moment = datetime.fromisoformat(when.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - time.time())
