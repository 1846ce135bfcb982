"""Who does the work: LLM endpoints behind one small protocol."""

from __future__ import annotations

from fanflow.adapters._mock import MockAdapter, MockHandler
from fanflow.adapters._openai import OpenAIAdapter
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
    ToolCall,
    Usage,
)

__all__ = [
    "AdapterBase",
    "AiohttpTransport",
    "ChatMessage",
    "Generation",
    "GenerationRequest",
    "HTTPResponse",
    "HTTPTransport",
    "HttpxTransport",
    "LLMAdapter",
    "MockAdapter",
    "MockHandler",
    "OpenAIAdapter",
    "ToolCall",
    "Usage",
]
