from __future__ import annotations

import time

import pytest

from fanflow._exceptions import ConfigurationError, RateLimited
from fanflow.adapters._mock import MockAdapter
from fanflow.adapters._types import (
    ChatMessage,
    Generation,
    GenerationRequest,
    LLMAdapter,
    ToolCall,
    Usage,
)

REQUEST = GenerationRequest(
    messages=(ChatMessage("system", "You are terse."), ChatMessage("user", "Name a colour.")),
    model="tiny",
)


async def test_sync_handler_text_becomes_a_generation() -> None:
    adapter = MockAdapter(lambda request: f"echo {request.messages[-1].content}")
    generation = await adapter.generate(REQUEST)
    assert generation == Generation(
        text="echo Name a colour.",
        finish_reason="stop",
        usage=Usage(prompt_tokens=6, completion_tokens=4),
        model="tiny",
        latency_s=0.0,
        endpoint="mock",
    )


async def test_async_handler_is_awaited() -> None:
    async def handler(request: GenerationRequest) -> str:
        return request.messages[0].role

    assert (await MockAdapter(handler).generate(REQUEST)).text == "system"


async def test_generation_from_handler_is_returned_as_is() -> None:
    made = Generation(text="", tool_calls=(ToolCall("f", "{}"),), finish_reason="tool_calls")
    assert await MockAdapter(lambda _: made).generate(REQUEST) is made


async def test_latency_is_waited() -> None:
    adapter = MockAdapter(lambda _: "ok", latency=0.05)
    started = time.perf_counter()
    generation = await adapter.generate(REQUEST)
    assert time.perf_counter() - started >= 0.045  # clocks may round a hair early
    assert generation.latency_s == 0.05


async def test_handler_errors_propagate_unchanged_and_calls_count() -> None:
    error = RateLimited("slow down", retry_after=1.0)

    def handler(request: GenerationRequest) -> str:
        if adapter.calls == 2:
            raise error
        return "ok"

    adapter = MockAdapter(handler)
    await adapter.generate(REQUEST)
    with pytest.raises(RateLimited) as info:
        await adapter.generate(REQUEST)
    assert info.value is error
    await adapter.generate(REQUEST)
    assert adapter.calls == 3


async def test_handler_returning_something_else_is_a_configuration_error() -> None:
    adapter = MockAdapter(lambda _: {"text": "hi"})  # type: ignore[arg-type,return-value]
    with pytest.raises(ConfigurationError, match="returned dict"):
        await adapter.generate(REQUEST)


async def test_is_an_llm_adapter_with_async_with() -> None:
    async with MockAdapter(lambda _: "ok") as adapter:
        assert isinstance(adapter, LLMAdapter)
        assert (await adapter.generate(REQUEST)).text == "ok"
