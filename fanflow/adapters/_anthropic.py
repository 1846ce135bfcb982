"""An adapter for Anthropic's Messages API (`POST {base_url}/v1/messages`).

It is an `OpenAIAdapter` underneath (the same transports, secret handling, retry-after
reading and error texts); only the body going out and the body coming back differ
(`_anthropic_wire`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from fanflow._exceptions import ConfigurationError, ProviderError, RateLimited
from fanflow._redact import hide_secret_headers
from fanflow.adapters import _openai
from fanflow.adapters._anthropic_wire import (
    finish_reason,
    messages_payload,
    parse_content,
    rate_limits,
    usage_of,
)
from fanflow.adapters._openai import OpenAIAdapter
from fanflow.adapters._transport import HTTPResponse, HTTPTransport
from fanflow.adapters._types import Generation, GenerationRequest

if TYPE_CHECKING:
    import httpx

__all__ = ["AnthropicAdapter"]

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096

_STATUS_HINTS: dict[int, str] = {
    400: "Check the request: model name, messages, max_tokens, tools and extra.",
    401: "Check the api_key given to AnthropicAdapter.",
    403: "Check that the api_key given to AnthropicAdapter may use this model.",
    404: "Check base_url (the API root, e.g. https://api.anthropic.com) and the model name.",
    413: "Shorten the prompt.",
    529: "Anthropic is overloaded; retry later.",
}


class AnthropicAdapter(OpenAIAdapter):
    """Send `GenerationRequest`s to Anthropic's Messages API.

    System messages become the `system` prompt; `max_tokens` is always sent
    (`max_tokens`, default 4096, when a request sets none); `x-api-key` and
    `anthropic-version` are sent as the official client does. OpenAI-style tools are
    converted to Anthropic tools and `tool_use` blocks come back as `ToolCall`s; a
    request's `json_schema` is asked for through a forced tool whose input becomes the
    answer text (JSON). Usage counts cache writes and reads as prompt tokens;
    `stop_reason` is mapped to OpenAI's finish reasons (end_turn -> stop, max_tokens ->
    length, tool_use -> tool_calls, refusal -> content_filter). 429 and 529 (overloaded)
    carry the server's `retry-after` for `RetryingAdapter`; `anthropic-ratelimit-*`
    headers fill `Generation.rate_limits` for `RateLimiter`. `base_url` is the API root
    (a trailing `/v1` is accepted); the other arguments are `OpenAIAdapter`'s.
    """

    __slots__ = ("_max_tokens",)

    def __init__(
        self,
        api_key: str | None = None,
        model: str | None = None,
        base_url: str = "https://api.anthropic.com",
        *,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        transport: HTTPTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        timeout: float | None = 600.0,
        headers: Mapping[str, str] | None = None,
        max_connections: int = 1024,
        connect_timeout: float | None = None,
    ) -> None:
        if not (isinstance(max_tokens, int) and max_tokens > 0):
            raise ConfigurationError(
                f"AnthropicAdapter(max_tokens={max_tokens!r}) needs a positive whole number."
            )
        self._max_tokens = max_tokens
        pairs = [("anthropic-version", ANTHROPIC_VERSION)]
        if api_key:
            pairs.append(("x-api-key", api_key))
        # SecretStr values (and registered for redaction): no local shows the key.
        sent = hide_secret_headers([*pairs, *(headers or {}).items()])
        # Error reporters capture every frame's locals: from here on, no local holds a key.
        del api_key, headers, pairs
        super().__init__(
            base_url,
            None,
            model,
            transport=transport,
            http_client=http_client,
            timeout=timeout,
            headers=sent,
            max_connections=max_connections,
            connect_timeout=connect_timeout,
        )
        del sent
        root = self._url.removesuffix("/chat/completions").rstrip("/").removesuffix("/v1")
        self._url = f"{root}/v1/messages"
        self.base_url = self.base_url.removesuffix("/v1")

    def __repr__(self) -> str:
        return f"AnthropicAdapter(base_url={self.base_url!r}, model={self.model!r})"

    def __reduce__(self) -> Any:
        raise TypeError(
            "AnthropicAdapter cannot be pickled (it holds connections and the API key); "
            "create one adapter in each process."
        )

    def _payload(self, request: GenerationRequest, model: str) -> dict[str, Any]:
        """The Messages API body (`OpenAIAdapter.generate` sends it to /v1/messages)."""
        return messages_payload(request, model, self._max_tokens)

    def _parse(
        self, response: HTTPResponse, model: str, latency: float, request: GenerationRequest
    ) -> Generation:
        try:
            data = orjson.loads(response.body)
        except orjson.JSONDecodeError:
            raise self._bad_body(response, "is not JSON") from None
        try:
            text, tool_calls, structured = parse_content(data["content"], request)
            usage = usage_of(data.get("usage"))
            if usage is None:
                answered = len(text) + sum(len(call.arguments) for call in tool_calls)
                usage = self._estimated_usage(None, request, answered)
            return Generation(
                text=text,
                tool_calls=tool_calls,
                finish_reason=finish_reason(data.get("stop_reason"), structured),
                usage=usage,
                model=data.get("model") or model,
                latency_s=latency,
                attempts=response.attempts,
                endpoint=self.base_url,
                rate_limits=rate_limits(response.headers),
            )
        except (KeyError, IndexError, TypeError, AttributeError):
            said = _openai._provider_message(data)
            what = "has no usable content blocks" + (f" ({said})" if said else "")
            raise self._bad_body(response, what) from None

    def _bad_body(self, response: HTTPResponse, what: str) -> ProviderError:
        text = _openai._decode(response.body)
        return ProviderError(
            f"POST {self._url} answered {response.status} but the body {what}: "
            f"{_openai._excerpt(text)!r}. Check that base_url points at Anthropic's "
            "Messages API (e.g. https://api.anthropic.com).",
            endpoint=self.base_url,
            status_code=response.status,
            body=text[: _openai._BODY_KEPT],
        )

    def _status_error(self, response: HTTPResponse) -> RateLimited | ProviderError:
        status = response.status
        if status == 429 or status not in _STATUS_HINTS:
            return super()._status_error(response)  # 429, 5xx and redirects as OpenAI's
        text = _openai._decode(response.body)
        said = _openai._provider_message_from_text(text) or _openai._excerpt(text)
        return ProviderError(
            f"POST {self._url} answered {status}: {_openai._sentence(said or '(empty body)')} "
            f"{_STATUS_HINTS[status]}",
            endpoint=self.base_url,
            status_code=status,
            body=text[: _openai._BODY_KEPT],
            retry_after=_openai._retry_after(response.headers),
        )
