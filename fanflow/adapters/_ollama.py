"""An adapter for Ollama's native `/api/chat`, where `num_ctx`, `keep_alive` and `format`
(a JSON schema) can be set, which Ollama's OpenAI-compatible `/v1` does not allow.

It is `OpenAIAdapter` with another body and another answer: the transport, the handling
of secrets, retries (`ProviderError.retryable`: 5xx, dropped connections) and error
building are shared, so both cost the same CPU per request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import orjson

from fanflow._exceptions import ProviderError, RateLimited
from fanflow.adapters._openai import (
    _BODY_KEPT,
    OpenAIAdapter,
    _decode,
    _excerpt,
    _provider_message,
    _provider_message_from_text,
    _sentence,
    tool_calls_of,
)
from fanflow.adapters._ratelimit_headers import parse_rate_limits
from fanflow.adapters._transport import HTTPResponse, HTTPTransport
from fanflow.adapters._types import Generation, GenerationRequest, ToolCall, Usage

if TYPE_CHECKING:
    import httpx

__all__ = ["OllamaAdapter"]

# Keys of GenerationRequest.extra that are fields of the /api/chat body; every other key
# is a model option (top_p, seed, stop, num_ctx, repeat_penalty, ...) and goes in `options`.
_BODY_FIELDS = frozenset({"format", "keep_alive", "think", "logprobs", "top_logprobs"})
_MODEL_NOT_FOUND = re.compile(r"""model ["']?([^"'\s]+)["']? not found""")
_HINTS: dict[int, str] = {
    400: "Check the request: model name, messages, format, tools and options.",
    401: "Check the api_key or headers given to OllamaAdapter (a proxy in front of Ollama).",
    403: "Check the api_key or headers given to OllamaAdapter (a proxy in front of Ollama).",
    404: (
        "Check base_url: it is the Ollama server root, such as http://127.0.0.1:11434 "
        "(without /api or /v1)."
    ),
}


class OllamaAdapter(OpenAIAdapter):
    """Send `GenerationRequest`s to Ollama's native chat API (`POST {base_url}/api/chat`).

    `base_url` is the server root (``http://127.0.0.1:11434``). Requests map to Ollama's
    body: `temperature` and `max_tokens` (as ``num_predict``) go in ``options``, with
    every key of `extra` except the body fields ``format``, ``keep_alive``, ``think``,
    ``logprobs`` and ``top_logprobs`` (so ``extra={"num_ctx": 8192, "top_p": 0.9}``
    works; an ``options`` dict in `extra` is merged in too). `options` given here are
    defaults under each request's; `keep_alive` (``"10m"``, seconds, ``-1``) is sent
    with every request unless `extra` sets it. A request's `json_schema` is sent as
    ``format``, its `tools` as they are. Usage comes from ``prompt_eval_count`` and
    ``eval_count``. Other arguments are `OpenAIAdapter`'s (`api_key` and `headers` for
    a proxy in front of Ollama).
    """

    __slots__ = ("_keep_alive", "_options")

    _chat_path: ClassVar[str] = "/api/chat"

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:11434",
        model: str | None = None,
        *,
        options: Mapping[str, Any] | None = None,
        keep_alive: str | float | None = None,
        api_key: str | None = None,
        transport: HTTPTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        timeout: float | None = 600.0,
        headers: Mapping[str, str] | None = None,
        max_connections: int = 1024,
        connect_timeout: float | None = None,
    ) -> None:
        super().__init__(
            base_url,
            api_key,
            model,
            transport=transport,
            http_client=http_client,
            timeout=timeout,
            headers=headers,
            max_connections=max_connections,
            connect_timeout=connect_timeout,
        )
        self._options = dict(options or {})
        self._keep_alive = keep_alive

    def __repr__(self) -> str:
        return f"OllamaAdapter(base_url={self.base_url!r}, model={self.model!r})"

    def _payload(self, request: GenerationRequest, model: str) -> dict[str, Any]:
        """The /api/chat body; orjson serialises the `ChatMessage`s as {role, content}."""
        payload: dict[str, Any] = {"model": model, "messages": request.messages, "stream": False}
        options = dict(self._options)
        if request.temperature is not None:
            options["temperature"] = request.temperature
        if request.max_tokens is not None:
            options["num_predict"] = request.max_tokens
        if self._keep_alive is not None:
            payload["keep_alive"] = self._keep_alive
        if request.json_schema is not None:
            payload["format"] = request.json_schema
        if request.tools:
            payload["tools"] = request.tools
        for key, value in request.extra.items():
            if key in _BODY_FIELDS:
                payload[key] = value
            elif key == "options" and isinstance(value, Mapping):
                options.update(value)
            elif key == "max_tokens":  # the OpenAI name, as a step's extra may carry it
                options["num_predict"] = value
            else:
                options[key] = value
        if options:
            payload["options"] = options
        return payload

    def _parse(
        self, response: HTTPResponse, model: str, latency: float, request: GenerationRequest
    ) -> Generation:
        try:
            data = orjson.loads(response.body)
        except orjson.JSONDecodeError:
            raise self._bad_body(response, "is not JSON") from None
        try:
            message = data["message"]
            content = message.get("content")
            text = content if type(content) is str else self._content_text(response, content)
            tool_calls = tool_calls_of(message.get("tool_calls"), no_arguments="{}")
            return Generation(
                text=text,
                tool_calls=tool_calls,
                finish_reason="tool_calls" if tool_calls else data.get("done_reason"),
                usage=self._usage(data, request, text, tool_calls),
                model=data.get("model") or model,
                latency_s=latency,
                attempts=response.attempts,
                endpoint=self.base_url,
                rate_limits=parse_rate_limits(response.headers),
            )
        except (KeyError, IndexError, TypeError, AttributeError):
            said = _provider_message(data)
            what = "has no usable message" + (f" ({said})" if said else "")
            raise self._bad_body(response, what) from None

    def _usage(
        self,
        data: dict[str, Any],
        request: GenerationRequest,
        text: str,
        tool_calls: tuple[ToolCall, ...],
    ) -> Usage:
        prompt, completion = data.get("prompt_eval_count"), data.get("eval_count")
        if isinstance(prompt, int) or isinstance(completion, int):
            return Usage(prompt or 0, completion or 0)
        answered = len(text) + sum(len(call.arguments) for call in tool_calls)
        return self._estimated_usage(None, request, answered)  # warns once per adapter

    def _bad_body(self, response: HTTPResponse, what: str) -> ProviderError:
        text = _decode(response.body)
        return ProviderError(
            f"POST {self._url} answered {response.status} but the body {what}: "
            f"{_excerpt(text)!r}. Check that base_url points at an Ollama server "
            "(such as http://127.0.0.1:11434).",
            endpoint=self.base_url,
            status_code=response.status,
            body=text[:_BODY_KEPT],
        )

    def _status_error(self, response: HTTPResponse) -> RateLimited | ProviderError:
        status = response.status
        if status not in _HINTS:  # 429 and 5xx: as OpenAIAdapter (retry-after, retryable)
            return super()._status_error(response)
        text = _decode(response.body)
        said = _provider_message_from_text(text) or _excerpt(text) or "(empty body)"
        hint = _HINTS[status]
        missing = _MODEL_NOT_FOUND.search(said) if status == 404 else None
        if missing is not None:
            hint = (
                f"Pull it on the Ollama host with `ollama pull {missing.group(1)}` "
                "(or check the model name: `ollama list` shows the models there)."
            )
        return ProviderError(
            f"POST {self._url} answered {status}: {_sentence(said)} {hint}",
            endpoint=self.base_url,
            status_code=status,
            body=text[:_BODY_KEPT],
        )
