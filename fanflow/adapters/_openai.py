"""An adapter for any OpenAI-compatible `/v1/chat/completions` endpoint.

vLLM, SGLang, llama.cpp, TGI, LiteLLM and OpenAI itself all speak this dialect, so one
adapter covers most inference networks. It is written for client CPU per request
(bench/README.md): orjson in and out, and what does not change between calls (URL,
headers) built once in `__init__`.
"""

from __future__ import annotations

import base64
import math
import re
import time
from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import unquote, urlsplit, urlunsplit

import orjson

from fanflow import _otel
from fanflow._exceptions import AdapterError, ConfigurationError, ProviderError, RateLimited
from fanflow._redact import (
    get_logger,
    hide_secret_headers,
    redact,
    redacted_headers,
    register_secret,
    register_url,
    shown_url,
)
from fanflow.adapters._fast_http import FastTransport
from fanflow.adapters._ratelimit_headers import parse_rate_limits
from fanflow.adapters._transport import HTTPResponse, HTTPTransport
from fanflow.adapters._types import AdapterBase, Generation, GenerationRequest, ToolCall, Usage
from fanflow.adapters._urls import check_base_url
from fanflow.adapters._usage import CHARS_PER_TOKEN, usage_from

if TYPE_CHECKING:
    import httpx

__all__ = ["OpenAIAdapter"]

logger = get_logger("fanflow.adapters")

_BODY_EXCERPT = 500
_BODY_KEPT = 4000
_LINE_BREAKS = re.compile(r"[\r\n\t]")
_DECODED_ENCODINGS = frozenset({"identity", "gzip", "deflate", "x-gzip"})
_SCHEMA_NAME_BAD_CHARS = re.compile(r"[^A-Za-z0-9_-]")

_STATUS_HINTS: dict[int, str] = {
    400: "Check the request: model name, messages, response_format, tools and extra.",
    401: "Check the api_key given to OpenAIAdapter.",
    403: "Check that the api_key given to OpenAIAdapter may use this model.",
    404: "Check base_url (it should end in /v1) and the model name.",
    413: "Shorten the prompt or lower max_tokens.",
    422: "Check the request: model name, messages, response_format, tools and extra.",
}


class _Headers(dict[str, str]):
    """Request headers whose repr hides the values of secret-named headers.

    Tracebacks with locals, debuggers and loggers print reprs; the API key must not
    appear in any of them, nor a key given as `api-key`, `x-api-key` or a token header.
    The secret values are also `SecretStr`s, so copies an HTTP library makes hide them too.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(redacted_headers(self))


class OpenAIAdapter(AdapterBase):
    """Send `GenerationRequest`s to an OpenAI-compatible server's chat completions API.

    `base_url` is the API root, ending in `/v1`. `model` is used when a request names
    none. The HTTP layer is a `FastTransport` the adapter creates, owns and closes, unless
    `transport` gives another `HTTPTransport` or `http_client` a caller's
    `httpx.AsyncClient`, which the adapter never closes and whose own timeout applies.
    No transport reads proxy settings: behind a proxy, pass
    `http_client=httpx.AsyncClient(proxy=...)`. `timeout` (seconds, None for none) bounds
    each request made through a transport the adapter creates, and `connect_timeout`
    only its connecting (so a dead host fails fast while long generations may run).
    `max_connections` caps connections held open by that transport. Responses carrying
    `x-ratelimit-*` headers fill `Generation.rate_limits`.

    Secrets: `api_key`, the values of secret-named `headers` (``api-key``, ``x-api-key``,
    ``*token*``, ``*secret*``, cookies, ...) and a ``user:password@`` in `base_url` are
    hidden from reprs and traceback locals and redacted from every error text fanflow
    keeps or raises. Credentials in `base_url` are sent as Basic authorization (unless
    `api_key` or an Authorization header is given), and `self.base_url` shows them as
    ``<redacted>@``.

    Where a server reports only
    `total_tokens` or no `usage`, the tokens are estimated from the text
    (`Usage.estimated`; see `adapters/_usage.py`) and a warning is logged once.
    """

    __slots__ = (
        "_headers",
        "_owns_transport",
        "_transport",
        "_url",
        "_warned_estimating",
        "base_url",
        "model",
    )

    # The chat endpoint under base_url; a subclass speaking another dialect changes it.
    _chat_path: ClassVar[str] = "/chat/completions"

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        model: str | None = None,
        *,
        transport: HTTPTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        timeout: float | None = 600.0,
        headers: Mapping[str, str] | None = None,
        max_connections: int = 1024,
        connect_timeout: float | None = None,
    ) -> None:
        self.base_url, self.model = "", model  # so that repr(self) works in tracebacks
        if not isinstance(base_url, str):
            del api_key, headers  # error reporters capture every frame's locals
            check_base_url(base_url, type(self).__name__)
        url, self._headers = _take_secrets(base_url, api_key, headers)
        self.base_url = shown_url(base_url).rstrip("/")
        # Error reporters capture every frame's locals: from here on, no local holds a key.
        del base_url, api_key, headers
        check_base_url(self.base_url, type(self).__name__)
        if transport is not None and http_client is not None:
            raise ConfigurationError(
                f"{type(self).__name__} got both transport= and http_client=; pass one of them."
            )
        self._url = f"{url.rstrip('/')}{self._chat_path}"
        self._owns_transport = transport is None and http_client is None
        self._warned_estimating = False
        if http_client is not None:
            from fanflow.adapters._httpx_transport import HttpxTransport  # imports httpx

            transport = HttpxTransport(http_client)
        elif transport is None:
            transport = FastTransport(
                max_connections=max_connections, timeout=timeout, connect_timeout=connect_timeout
            )
        self._transport: HTTPTransport = transport

    def __repr__(self) -> str:
        return f"OpenAIAdapter(base_url={self.base_url!r}, model={self.model!r})"

    def check_model(self, model: str | None) -> None:
        """`ConfigurationError` if a request for `model` (None: this adapter's default)
        would have no model; a pipeline asks this at `build()`, before any request."""
        if model is None and self.model is None:
            raise ConfigurationError(
                f"no model for requests to {self.base_url}: pass model= to "
                f"{type(self).__name__} or name the models with the step's set_models([...])."
            )

    def __reduce__(self) -> Any:
        # Pickling would carry the key in the headers; adapters hold open connections and
        # are not meant to cross process boundaries anyway.
        raise TypeError(
            f"{type(self).__name__} cannot be pickled (it holds connections and the API key); "
            "create one adapter in each process."
        )

    def generate(self, request: GenerationRequest) -> Coroutine[Any, Any, Generation]:
        """POST the request and turn the answer into a `Generation` (awaited as `async`;
        a plain method so that, untraced, no coroutine layer is added per request)."""
        traced = _otel.tracing
        if traced is not None:  # a span around this attempt (fanflow/_otel.py)
            return traced.attempt(self._send_request(request), request, self.base_url, self.model)
        return self._send_request(request)

    async def _send_request(self, request: GenerationRequest) -> Generation:
        model = request.model or self.model
        if model is None:
            raise ConfigurationError(
                f"No model for the request to {self.base_url}: pass model= to "
                f"{type(self).__name__} or set GenerationRequest.model."
            )
        try:
            body = orjson.dumps(self._payload(request, model))
        except orjson.JSONEncodeError as exc:
            raise ConfigurationError(
                f"The request to {self.base_url} cannot be encoded as JSON ({exc}); "
                "json_schema, tools and extra must hold only JSON types."
            ) from exc
        started = time.perf_counter()
        response = await self._transport.post(self._url, body, self._headers)
        latency = time.perf_counter() - started
        try:
            if not 200 <= response.status < 300:
                raise self._status_error(response)
            return self._parse(response, model, latency, request)
        except AdapterError as exc:  # the time it took counts in the task's latency
            attempts = response.attempts
            raise exc.with_context("", attempts=attempts, latency_s=latency) from exc.__cause__

    def _payload(self, request: GenerationRequest, model: str) -> dict[str, Any]:
        """The JSON body to POST; a subclass speaking another dialect overrides it."""
        return _payload(request, model)

    async def aclose(self) -> None:
        """Close the transport the adapter created; leave a caller's client or transport open."""
        if self._owns_transport:
            await self._transport.aclose()

    def _parse(
        self, response: HTTPResponse, model: str, latency: float, request: GenerationRequest
    ) -> Generation:
        try:
            data = orjson.loads(response.body)
        except orjson.JSONDecodeError:
            raise self._bad_body(response, "is not JSON") from None
        try:
            choice = data["choices"][0]
            message = choice["message"]
            content = message.get("content")
            text = content if type(content) is str else self._content_text(response, content)
            tool_calls = tool_calls_of(message.get("tool_calls"))
            usage = data.get("usage")
            if usage and ("prompt_tokens" in usage or "completion_tokens" in usage):
                counted = Usage(
                    usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0
                )
            else:
                answered = len(text) + sum(len(call.arguments) for call in tool_calls)
                counted = self._estimated_usage(usage, request, answered)
            return Generation(
                text=text,
                tool_calls=tool_calls,
                finish_reason=choice.get("finish_reason"),
                usage=counted,
                model=data.get("model") or model,
                latency_s=latency,
                attempts=response.attempts,
                endpoint=self.base_url,
                rate_limits=parse_rate_limits(response.headers),
            )
        except (KeyError, IndexError, TypeError, AttributeError):
            said = _provider_message(data)
            what = "has no usable choices[0].message" + (f" ({said})" if said else "")
            raise self._bad_body(response, what) from None

    def _content_text(self, response: HTTPResponse, content: Any) -> str:
        """`message.content` that is not a string: null, or a list of parts (joined)."""
        if content is None:
            return ""
        if isinstance(content, list):
            # Some servers send content as parts, as in requests: [{"type": "text", ...}].
            return "".join(
                part["text"]
                for part in content
                if isinstance(part, dict) and isinstance(part.get("text"), str)
            )
        raise self._bad_body(
            response, f"has a message content of type {type(content).__name__} (not text)"
        )

    def _estimated_usage(self, usage: Any, request: GenerationRequest, answered: int) -> Usage:
        """Usage the server did not (fully) report, estimated; said once per adapter."""
        if not self._warned_estimating:
            self._warned_estimating = True
            what = "only total_tokens" if usage else "no usage"
            logger.warning(
                "%s sends %s with its answers: fanflow estimates the tokens from the text "
                "(about %d characters a token) for budgets and cost; result.stats."
                "tokens_estimated counts the tasks concerned.",
                self.base_url,
                what,
                CHARS_PER_TOKEN,
            )
        return usage_from(usage, request.messages, answered)

    def _bad_body(self, response: HTTPResponse, what: str) -> ProviderError:
        text = _decode(response.body)
        encoding = response.headers.get("content-encoding")
        if encoding and encoding.lower() not in _DECODED_ENCODINGS:
            what += f" (it came with Content-Encoding: {encoding}, which fanflow does not decode)"
        return ProviderError(
            f"POST {self._url} answered {response.status} but the body {what}: "
            f"{_excerpt(text)!r}. Check that base_url points at an OpenAI-compatible "
            "server (ending in /v1).",
            endpoint=self.base_url,
            status_code=response.status,
            body=text[:_BODY_KEPT],
        )

    def _status_error(self, response: HTTPResponse) -> RateLimited | ProviderError:
        text = _decode(response.body)
        said = _sentence(_provider_message_from_text(text) or _excerpt(text) or "(empty body)")
        status = response.status
        if status == 429:
            retry_after = _retry_after(response.headers)
            advice = (
                f"Retry after {retry_after:g} s."
                if retry_after is not None
                else "No Retry-After given; back off and retry."
            )
            return RateLimited(
                f"POST {self._url} answered 429 (rate limited): {said} {advice}",
                endpoint=self.base_url,
                retry_after=retry_after,
            )
        hint = _status_hint(status, response.headers)
        return ProviderError(
            f"POST {self._url} answered {status}: {said} {hint}",
            endpoint=self.base_url,
            status_code=status,
            body=text[:_BODY_KEPT],
            retry_after=_retry_after(response.headers),
        )


def _status_hint(status: int, headers: Mapping[str, str]) -> str:
    if status in _STATUS_HINTS:
        return _STATUS_HINTS[status]
    if 300 <= status < 400:
        # Redirects are not followed: a POST would be replayed, and the key could follow.
        location = headers.get("location")
        return f"The server redirects to {location!r}; set base_url to the API root there."
    if status >= 500:
        return "The server failed; retry later or check its logs."
    return "See the provider's message."


def _take_secrets(
    base_url: str, api_key: str | None, extra: Mapping[str, str] | None
) -> tuple[str, _Headers]:
    """The URL without user:password@, and the headers, every secret registered for `redact`.

    Credentials in the URL become a Basic Authorization header (unless a key or an
    Authorization header is given), so no transport ever sees them in a URL, where
    reprs and error messages would show them.
    """
    register_url(base_url)
    url, basic = _without_userinfo(base_url)
    pairs = [("Content-Type", "application/json"), ("Accept", "application/json")]
    given = {name.lower() for name in extra or ()}
    if api_key:
        register_secret(api_key)
        pairs.append(("Authorization", f"Bearer {api_key}"))
    elif basic is not None and "authorization" not in given:
        pairs.append(("Authorization", basic))
    if extra:
        pairs += extra.items()
    return url, _Headers(hide_secret_headers(pairs))


def _without_userinfo(url: str) -> tuple[str, str | None]:
    """`url` without user:password@, and the Basic Authorization value they make, if any."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, host = parts.netloc.rpartition("@")
    token = base64.b64encode(unquote(userinfo).encode()).decode("ascii")
    register_secret(token)
    return urlunsplit(parts._replace(netloc=host)), f"Basic {token}"


def _payload(request: GenerationRequest, model: str) -> dict[str, Any]:
    """The JSON body; orjson serialises the `ChatMessage` dataclasses as {role, content}."""
    payload: dict[str, Any] = {"model": model, "messages": request.messages}
    if request.temperature is not None:
        payload["temperature"] = request.temperature
    if request.max_tokens is not None:
        payload["max_tokens"] = request.max_tokens
    if request.json_schema is not None:
        payload["response_format"] = _response_format(request.json_schema)
    if request.tools:
        payload["tools"] = request.tools
    if request.extra:
        payload.update(request.extra)
    return payload


def _response_format(schema: dict[str, Any]) -> dict[str, Any]:
    # OpenAI requires the name to match ^[a-zA-Z0-9_-]{1,64}$.
    title = schema.get("title")
    name = _SCHEMA_NAME_BAD_CHARS.sub("_", title)[:64] if isinstance(title, str) else ""
    return {
        "type": "json_schema",
        "json_schema": {"name": name or "output", "schema": schema, "strict": False},
    }


def tool_calls_of(raw: Any, no_arguments: str = "") -> tuple[ToolCall, ...]:
    """Chat-completion style tool calls as `ToolCall`s, arguments as JSON text (Ollama's
    format too, whose arguments are an object; `no_arguments` stands in for none)."""
    if not raw:
        return ()
    calls = []
    for call in raw:
        function = call["function"]
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            # A few servers send the arguments as an object rather than JSON text.
            arguments = no_arguments if arguments is None else orjson.dumps(arguments).decode()
        calls.append(ToolCall(name=function["name"], arguments=arguments, id=call.get("id")))
    return tuple(calls)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from `retry-after-ms` or `Retry-After` (seconds or HTTP-date)."""
    millis = _seconds(headers.get("retry-after-ms"))
    if millis is not None:
        return millis / 1000.0
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _seconds(value)
    return seconds if seconds is not None else _seconds_until(value)


def _seconds(text: str | None) -> float | None:
    """A finite, non-negative number from a header, or None."""
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return max(0.0, number) if math.isfinite(number) else None


def _seconds_until(http_date: str) -> float | None:
    from datetime import timezone  # here: Retry-After dates are rare, these imports not free
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" parses naive; HTTP dates are always UTC
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - time.time())


def _provider_message_from_text(text: str) -> str | None:
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return _provider_message(data)


def _provider_message(data: Any) -> str | None:
    """The error text in OpenAI's `{"error": {"message": ...}}` and common variants."""
    if not isinstance(data, dict):
        return None
    error = data.get("error")
    if isinstance(error, dict):
        error = error.get("message")
    for candidate in (error, data.get("message"), data.get("detail")):
        if isinstance(candidate, str) and candidate:
            return candidate
    return None


def _sentence(text: str) -> str:
    """End `text` with exactly one full stop, so a hint can follow it."""
    return text if text.endswith((".", "!", "?")) else text + "."


def _decode(body: bytes) -> str:
    """A body as text fit for a message: binary (not UTF-8, or control characters) is
    described and escaped, never passed on raw; known secrets are redacted (before any
    excerpt could cut one in half)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return f"<{len(body)} bytes that are not UTF-8 text, starting {body[:48]!r}>"
    if not text.isprintable() and not _LINE_BREAKS.sub("", text).isprintable():
        text = repr(text[:_BODY_KEPT])[1:-1]  # escape control characters, keep the rest
    return redact(text)


def _excerpt(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _BODY_EXCERPT else text[:_BODY_EXCERPT] + "..."
