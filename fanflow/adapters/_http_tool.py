"""One HTTP request for a tool call: what a Dria `http_request` custom tool does.

httpx is imported on the first call: most runs call no such tool. A client is made per
call (tool calls are rare next to LLM requests, and a run may call many hosts); it reads
no proxy settings from the environment, like the LLM transports. Values of secret-named
headers (Authorization, api-key, ...) are registered for redaction, so a server echoing
them back never puts them in a stored error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fanflow._exceptions import ProviderError, TransportError
from fanflow._redact import hide_secret_headers, redact, register_url, shown_url

__all__ = ["TOOL_TIMEOUT", "send_tool_request"]

TOOL_TIMEOUT = 30.0
"""Seconds a tool request may take, unless its definition gives a `timeout`."""

_BODY_EXCERPT = 300


async def send_tool_request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    json_body: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    timeout: float | None = None,
) -> str:
    """Send the request; the answer's text. `TransportError` when no answer came within
    `timeout` seconds (None: `TOOL_TIMEOUT`), `ProviderError` for a status other than 2xx
    (with the start of its body)."""
    import httpx

    timeout = TOOL_TIMEOUT if timeout is None else timeout
    register_url(url)
    sent_headers = hide_secret_headers((headers or {}).items())
    shown = shown_url(url)
    where = f"{method} {shown}"
    try:
        async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
            response = await client.request(
                method, url, headers=sent_headers, json=json_body, params=params
            )
    except httpx.TimeoutException as exc:
        raise TransportError(f"{where} gave no answer within {timeout}s", endpoint=shown) from exc
    except httpx.HTTPError as exc:
        raise TransportError(
            f"{where} failed: {type(exc).__name__}: {redact(str(exc))}", endpoint=shown
        ) from exc
    text = response.text
    if not 200 <= response.status_code < 300:
        excerpt = redact(text[:_BODY_EXCERPT])
        raise ProviderError(
            f"{where} answered {response.status_code}: {excerpt}",
            endpoint=shown,
            status_code=response.status_code,
            body=excerpt,
        )
    return text
