from __future__ import annotations

import contextlib
import time

import pytest

from fanflow import (
    ChatMessage,
    ConfigurationError,
    Generation,
    GenerationRequest,
    LLMAdapter,
    MockAdapter,
    RateLimited,
    ToolCall,
    Usage,
)
from fanflow.adapters import MockScript

REQUEST = GenerationRequest(
    messages=(ChatMessage("system", "You are terse."), ChatMessage("user", "Name a colour.")),
    model="tiny",
)


def ask(text: str, model: str | None = None) -> GenerationRequest:
    return GenerationRequest(messages=(ChatMessage("user", text),), model=model)


# --- handlers ---------------------------------------------------------------------------


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


# --- scripts ----------------------------------------------------------------------------


async def test_a_script_answers_in_order_and_raises_its_exceptions() -> None:
    made = Generation(text="made", finish_reason="length")
    error = RateLimited("slow down", retry_after=2.0)
    script: MockScript = ["first", error, made]
    adapter = MockAdapter(script)

    assert (await adapter.generate(ask("a"))).text == "first"
    with pytest.raises(RateLimited) as info:
        await adapter.generate(ask("b"))
    assert info.value is error
    assert await adapter.generate(ask("c")) is made
    assert adapter.calls == 3


async def test_a_script_text_gets_usage_like_a_handler_text() -> None:
    generation = await MockAdapter(["red"]).generate(REQUEST)
    assert generation == await MockAdapter(lambda _: "red").generate(REQUEST)


async def test_a_request_past_the_end_of_the_script_says_how_many_answers_it_had() -> None:
    adapter = MockAdapter(["one", "two"])
    await adapter.generate(ask("a"))
    await adapter.generate(ask("b"))
    with pytest.raises(ConfigurationError, match="request 3, but its script has only 2 answers"):
        await adapter.generate(ask("c"))
    assert adapter.calls == 3


async def test_an_empty_script_expects_no_request() -> None:
    adapter = MockAdapter([])
    with pytest.raises(ConfigurationError, match="only 0 answers"):
        await adapter.generate(REQUEST)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("just text", "a handler .* or a script"),
        (Generation(text="x"), "a handler .* or a script"),
        (["ok", 42], "answer 2 is a int"),
        ([RateLimited], "answer 1 is a type"),  # the class, not an instance
    ],
)
def test_what_is_neither_a_handler_nor_a_script_is_a_configuration_error(
    source: object, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        MockAdapter(source)  # type: ignore[arg-type]


def test_repr_names_the_handler_or_the_script_and_the_model() -> None:
    def answer(request: GenerationRequest) -> str:
        return "x"

    handled, scripted = MockAdapter(answer), MockAdapter(["a"], model="m")
    assert repr(handled) == f"MockAdapter(handler={answer.__qualname__}, latency=0.0)"
    assert repr(scripted) == "MockAdapter(script=1 answer, latency=0.0, model='m')"


# --- the request log and the default model ------------------------------------------------


async def test_requests_are_logged_in_arrival_order_including_those_that_raised() -> None:
    adapter = MockAdapter(["ok", ValueError("boom"), "ok"])
    requests = [ask(text) for text in "abc"]
    for request in requests:
        with contextlib.suppress(ValueError):
            await adapter.generate(request)
    assert adapter.requests == requests
    assert adapter.calls == 3


async def test_a_handler_that_raises_is_logged_too() -> None:
    def handler(request: GenerationRequest) -> str:
        raise RateLimited("slow down")

    adapter = MockAdapter(handler)
    with pytest.raises(RateLimited):
        await adapter.generate(REQUEST)
    assert adapter.requests == [REQUEST]


async def test_model_is_the_default_for_requests_that_name_none() -> None:
    adapter = MockAdapter(lambda _: "ok", model="mock-1")
    assert adapter.model == "mock-1"
    assert (await adapter.generate(ask("a"))).model == "mock-1"
    assert (await adapter.generate(ask("b", model="other"))).model == "other"
    assert MockAdapter(lambda _: "ok").model is None
