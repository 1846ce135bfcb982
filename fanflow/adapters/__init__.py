"""Who does the work: LLM endpoints behind one small protocol."""

from __future__ import annotations

from fanflow.adapters._fast_http import FastTransport
from fanflow.adapters._limits import RateLimiter
from fanflow.adapters._mock import MockAdapter, MockHandler
from fanflow.adapters._openai import OpenAIAdapter
from fanflow.adapters._pool import Endpoint, EndpointPool, EndpointStats
from fanflow.adapters._retry import RetryingAdapter, RetryPolicy
from fanflow.adapters._transport import (
    AiohttpTransport,
    HTTPResponse,
    HTTPTransport,
    HttpxTransport,
)
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

__all__ = [
    "AdapterBase",
    "AiohttpTransport",
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
    "OpenAIAdapter",
    "RateLimitInfo",
    "RateLimiter",
    "RetryPolicy",
    "RetryingAdapter",
    "ToolCall",
    "Usage",
]
