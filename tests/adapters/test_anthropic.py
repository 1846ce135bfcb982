"""AnthropicAdapter against the mock server's `/v1/messages` (Anthropic's wire format)."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from pydantic import BaseModel

from fanflow import (
    AnthropicAdapter,
    ChatMessage,
    ConfigurationError,
    GenerationRequest,
    PipelineBuilder,
    PipelineConfig,
    Prompt,
    ProviderError,
    RateLimited,
    RateLimiter,
    RetryingAdapter,
    RetryPolicy,
)
from fanflow.testing import Faults, MockServer

pytestmark = pytest.mark.timeout(60)

KEY = "sk-ant-test-key-0123456789"
WEATHER = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "Weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def ask(text: str = "hi", **fields: Any) -> GenerationRequest:
    messages = (ChatMessage("system", "Be brief."), ChatMessage("user", text))
    return GenerationRequest(messages=messages, **fields)


async def test_request_has_system_apart_default_max_tokens_and_official_headers() -> None:
    sent: list[httpx.Request] = []

    async def keep(request: httpx.Request) -> None:
        sent.append(request)

    async with (
        MockServer(record=True) as server,
        httpx.AsyncClient(event_hooks={"request": [keep]}) as client,
        AnthropicAdapter(KEY, "claude-x", base_url=server.base_url, http_client=client) as adapter,
    ):
        generation = await adapter.generate(ask("hello", temperature=0.5))

    body = server.request_log[0]
    assert body["system"] == "Be brief."
    assert body["messages"] == [{"role": "user", "content": "hello"}]
    assert body["max_tokens"] == 4096
    assert body["temperature"] == 0.5
    assert body["model"] == "claude-x"
    assert str(sent[0].url).endswith("/v1/messages")
    assert sent[0].headers["x-api-key"] == KEY
    assert sent[0].headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent[0].headers
    assert generation.text == "mock answer: hello"
    assert generation.finish_reason == "stop"
    assert generation.usage.prompt_tokens > 0 and generation.usage.completion_tokens > 0
    assert KEY not in repr(adapter)


async def test_max_tokens_of_the_request_wins() -> None:
    async with (
        MockServer(record=True) as server,
        AnthropicAdapter(KEY, "claude-x", base_url=server.base_url) as adapter,
    ):
        await adapter.generate(ask(max_tokens=77, extra={"stop": "END", "top_k": 5}))
    body = server.request_log[0]
    assert body["max_tokens"] == 77
    assert body["stop_sequences"] == ["END"]
    assert body["top_k"] == 5


async def test_tools_go_out_as_anthropic_tools_and_tool_use_comes_back_as_tool_calls() -> None:
    def handler(body: dict[str, Any]) -> object:
        return {"tool_calls": [{"name": "weather", "arguments": {"city": "Oslo"}}]}

    async with (
        MockServer(handler, record=True) as server,
        AnthropicAdapter(KEY, "claude-x", base_url=server.base_url) as adapter,
    ):
        generation = await adapter.generate(ask(tools=(WEATHER,)))

    assert server.request_log[0]["tools"] == [
        {
            "name": "weather",
            "description": "Weather in a city.",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    (call,) = generation.tool_calls
    assert call.name == "weather"
    assert orjson.loads(call.arguments) == {"city": "Oslo"}
    assert call.id is not None and call.id.startswith("toolu_")
    assert generation.finish_reason == "tool_calls"


async def test_json_schema_is_asked_through_a_forced_tool_whose_input_is_the_answer() -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}}}
    async with (
        MockServer(lambda body: '{"name": "Ada"}', record=True) as server,
        AnthropicAdapter(KEY, "claude-x", base_url=server.base_url) as adapter,
    ):
        generation = await adapter.generate(ask(json_schema=schema))

    body = server.request_log[0]
    (tool,) = body["tools"]
    assert tool["input_schema"] == schema
    assert body["tool_choice"] == {"type": "tool", "name": tool["name"]}
    assert orjson.loads(generation.text) == {"name": "Ada"}
    assert generation.tool_calls == ()
    assert generation.finish_reason == "stop"


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
    ],
)
async def test_stop_reasons_map_to_finish_reasons(stop_reason: str, finish: str) -> None:
    def handler(body: dict[str, Any]) -> object:
        content = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
        return {"content": content, "stop_reason": stop_reason}

    async with (
        MockServer(handler) as server,
        AnthropicAdapter(KEY, "claude-x", base_url=server.base_url) as adapter,
    ):
        generation = await adapter.generate(ask())
    assert generation.text == "ab"
    assert generation.finish_reason == finish


async def test_529_is_a_retryable_provider_error_with_retry_after() -> None:
    overloaded = {"status": 529, "error": {"message": "Overloaded"}, "retry_after": 7}
    async with (
        MockServer(lambda body: overloaded) as server,
        AnthropicAdapter(KEY, "claude-x", base_url=server.base_url) as adapter,
    ):
        with pytest.raises(ProviderError) as caught:
            await adapter.generate(ask())
    assert caught.value.status_code == 529
    assert caught.value.retry_after == 7.0
    assert caught.value.retryable
    assert "Overloaded" in str(caught.value)
    assert KEY not in str(caught.value)


def pipeline(adapter: AnthropicAdapter, rows: int, **config: Any) -> PipelineBuilder:
    settings = PipelineConfig(progress=False, store=False, **config)
    builder = PipelineBuilder(settings, adapter).input([{"n": str(i)} for i in range(rows)])
    builder << Prompt("say", "say {{n}}")
    return builder


async def test_a_pipeline_runs_and_retries_a_529_after_its_retry_after() -> None:
    calls = 0

    def handler(body: dict[str, Any]) -> object:
        nonlocal calls
        calls += 1
        if calls == 1:
            return {"status": 529, "error": {"message": "Overloaded"}, "retry_after": 0}
        return "ok " + body["messages"][-1]["content"]

    async with (
        MockServer(handler) as server,
        AnthropicAdapter(KEY, "claude-x", base_url=server.base_url) as adapter,
    ):
        result = await pipeline(adapter, 5, concurrency=1, retry=RetryPolicy()).build().execute()

    assert result.stats.tasks["ok"] == 5
    assert sorted(row["say"] for row in result.rows) == [f"ok say {i}" for i in range(5)]
    assert calls == 6


async def test_ratelimit_headers_fill_rate_limits() -> None:
    headers = {
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "49",
        "anthropic-ratelimit-requests-reset": "2000-01-01T00:00:00Z",
        "anthropic-ratelimit-tokens-limit": "40000",
        "anthropic-ratelimit-tokens-remaining": "39000",
    }
    answer = {"content": [{"type": "text", "text": "a"}], "headers": headers}
    async with (
        MockServer(lambda body: answer) as server,
        AnthropicAdapter(KEY, "claude-x", base_url=server.base_url) as adapter,
    ):
        info = (await adapter.generate(ask())).rate_limits
        plain = (await RateLimiter(adapter).generate(ask())).rate_limits
    assert info is not None
    assert (info.limit_requests, info.remaining_requests, info.reset_requests_s) == (50, 49, 0.0)
    assert (info.limit_tokens, info.remaining_tokens) == (40000, 39000)
    assert plain == info


async def test_429_is_rate_limited_with_retry_after() -> None:
    limited = {"status": 429, "error": {"message": "Slow down"}, "retry_after": 3}
    async with (
        MockServer(lambda body: limited) as server,
        AnthropicAdapter(KEY, "claude-x", base_url=server.base_url) as adapter,
    ):
        with pytest.raises(RateLimited) as caught:
            await adapter.generate(ask())
    assert caught.value.retry_after == 3.0
    assert "Slow down" in str(caught.value)


async def test_a_schema_that_is_not_an_object_is_wrapped_and_unwrapped() -> None:
    schema = {"type": "array", "items": {"type": "string"}}
    async with (
        MockServer(lambda body: '{"value": ["a", "b"]}', record=True) as server,
        AnthropicAdapter(KEY, "claude-x", base_url=server.base_url) as adapter,
    ):
        generation = await adapter.generate(ask(json_schema=schema))
    (tool,) = server.request_log[0]["tools"]
    assert tool["input_schema"]["type"] == "object"
    assert orjson.loads(generation.text) == ["a", "b"]


async def test_mock_faults_apply_to_messages_and_are_retried() -> None:
    faults = Faults(script=["server_error", "slow_body"], slow_body_delay=0.01)
    async with (
        MockServer(faults=faults) as server,
        AnthropicAdapter(KEY, "claude-x", base_url=server.base_url) as adapter,
    ):
        retrying = RetryingAdapter(adapter, RetryPolicy(initial_backoff=0.01, jitter=0))
        first = await retrying.generate(ask("one"))
        second = await adapter.generate(ask("two"))
    assert first.text == "mock answer: one" and first.attempts == 2
    assert second.text == "mock answer: two"
    assert server.faults_applied == {"server_error": 1, "slow_body": 1}


async def test_the_official_anthropic_client_parses_the_mock() -> None:
    anthropic = pytest.importorskip("anthropic")

    def handler(body: dict[str, Any]) -> object:
        if body.get("tools"):
            return {"tool_calls": [{"name": "weather", "arguments": {"city": "Oslo"}}]}
        return "mock answer: " + body["messages"][-1]["content"]

    async with MockServer(handler) as server:
        client = anthropic.AsyncAnthropic(base_url=server.base_url.removesuffix("/v1"), api_key="x")
        try:
            message = await client.messages.create(
                model="claude-x",
                max_tokens=100,
                system="Be brief.",
                messages=[{"role": "user", "content": "hello"}],
            )
            tools = await client.messages.create(
                model="claude-x",
                max_tokens=100,
                messages=[{"role": "user", "content": "weather?"}],
                tools=[{"name": "weather", "input_schema": {"type": "object"}}],
            )
        finally:
            await client.close()
    assert message.content[0].type == "text"
    assert message.content[0].text == "mock answer: hello"  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0
    assert tools.stop_reason == "tool_use"
    assert tools.content[0].type == "tool_use"
    assert tools.content[0].input == {"city": "Oslo"}  # type: ignore[union-attr]


class Verdict(BaseModel):
    score: int


async def test_a_pipeline_prompt_with_a_schema_and_system_gets_parsed_output() -> None:
    async with (
        MockServer(lambda body: '{"score": 4}', record=True) as server,
        AnthropicAdapter(KEY, "claude-x", base_url=server.base_url) as adapter,
    ):
        settings = PipelineConfig(progress=False, store=False)
        builder = PipelineBuilder(settings, adapter).input([{"q": "a"}, {"q": "b"}])
        builder << Prompt("rate", "rate {{q}}", schema=Verdict, system="Be fair.")
        result = await builder.build().execute()

    assert result.stats.tasks["ok"] == 2
    assert [orjson.loads(row["rate"]) for row in result.rows] == [{"score": 4}] * 2
    assert {body["system"] for body in server.request_log} == {"Be fair."}
    assert all(body["tool_choice"]["type"] == "tool" for body in server.request_log)


async def test_the_key_is_hidden_from_errors_made_while_building() -> None:
    with pytest.raises(ConfigurationError) as caught:
        AnthropicAdapter(KEY, "claude-x", base_url="ftp://nowhere")
    assert KEY not in str(caught.value)
    frames = caught.tb.tb_next if caught.tb is not None else None
    while frames is not None:
        assert KEY not in repr(frames.tb_frame.f_locals)
        frames = frames.tb_next


def test_an_adapter_without_a_model_names_itself() -> None:
    with pytest.raises(ConfigurationError, match="pass model= to AnthropicAdapter"):
        AnthropicAdapter("key-for-the-mock").check_model(None)
