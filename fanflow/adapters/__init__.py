"""Who does the work: LLM endpoints behind one small protocol.

- `_types`: `LLMAdapter` (`generate`, `aclose`, `model`), requests and generations.
- `_openai`, `_mock`: `OpenAIAdapter` (any `/v1/chat/completions`), `MockAdapter`;
  `_openai_batch`: `OpenAIBatchAdapter` (the same requests through the Batch API);
  `_ollama`: `OllamaAdapter` (Ollama's native `/api/chat`, built on `OpenAIAdapter`);
  `_anthropic` (`AnthropicAdapter`, `/v1/messages`; `_anthropic_wire` its bodies);
  `_urls` checks base URLs, `_usage` estimates tokens a server did not report.
- `_wrapper`: `WrappingAdapter`, the base of adapters that wrap another; `_retry`
  (`RetryingAdapter`), `_limits` (`RateLimiter`), and `_pool` (`EndpointPool`, many
  endpoints as one, `_health` its view of each endpoint); `_window` (the concurrency
  window a 429 shrinks) and `_ratelimit_headers` (token buckets from `x-ratelimit-*`)
  serve `RateLimiter`; `_defaults.with_defaults` is how a pipeline wraps its network.
- `_http_tool`: `send_tool_request`, the HTTP request of a Dria `http_request` tool.
- `_transport`, `_fast_http` (with `_fast_http_conn`, its connections),
  `_aiohttp_transport`, `_httpx_transport`: HTTP transports (`FastTransport` is the
  default).

`AiohttpTransport` and `HttpxTransport` are imported on first use, with aiohttp and
httpx, and so is `EndpointPool`, so that `import fanflow` does not pay for what most runs
never use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from fanflow.adapters._anthropic import AnthropicAdapter
from fanflow.adapters._defaults import with_defaults
from fanflow.adapters._fast_http import FastTransport
from fanflow.adapters._http_tool import send_tool_request
from fanflow.adapters._limits import RateLimiter
from fanflow.adapters._mock import MockAdapter, MockHandler, MockScript
from fanflow.adapters._ollama import OllamaAdapter
from fanflow.adapters._openai import OpenAIAdapter
from fanflow.adapters._retry import RetryingAdapter, RetryPolicy
from fanflow.adapters._transport import HTTPResponse, HTTPTransport
from fanflow.adapters._types import (
    AdapterBase,
    ChatMessage,
    Generation,
    GenerationRequest,
    LLMAdapter,
    RateLimitInfo,
    ToolCall,
    Usage,
)
from fanflow.adapters._wrapper import WrappingAdapter

if TYPE_CHECKING:
    from fanflow.adapters._aiohttp_transport import AiohttpTransport
    from fanflow.adapters._httpx_transport import HttpxTransport
    from fanflow.adapters._openai_batch import OpenAIBatchAdapter
    from fanflow.adapters._pool import Endpoint, EndpointPool, EndpointStats

__all__ = [
    "AdapterBase",
    "AiohttpTransport",
    "AnthropicAdapter",
    "ChatMessage",
    "Endpoint",
    "EndpointPool",
    "EndpointStats",
    "FastTransport",
    "Generation",
    "GenerationRequest",
    "HTTPResponse",
    "HTTPTransport",
    "HttpxTransport",
    "LLMAdapter",
    "MockAdapter",
    "MockHandler",
    "MockScript",
    "OllamaAdapter",
    "OpenAIAdapter",
    "OpenAIBatchAdapter",
    "RateLimitInfo",
    "RateLimiter",
    "RetryPolicy",
    "RetryingAdapter",
    "ToolCall",
    "Usage",
    "WrappingAdapter",
    "send_tool_request",
    "with_defaults",
]

_LAZY = {
    "AiohttpTransport": "fanflow.adapters._aiohttp_transport",
    "HttpxTransport": "fanflow.adapters._httpx_transport",
    "Endpoint": "fanflow.adapters._pool",
    "EndpointPool": "fanflow.adapters._pool",
    "EndpointStats": "fanflow.adapters._pool",
    "OpenAIBatchAdapter": "fanflow.adapters._openai_batch",
}


def __getattr__(name: str) -> Any:
    """Import what most runs never use (HTTP libraries, the pool) when first asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
