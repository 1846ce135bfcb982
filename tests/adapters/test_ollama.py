"""`OllamaAdapter` against the mock server's `/api/chat` (Ollama's native wire format)."""

from __future__ import annotations

from typing import Any

import pytest

from fanflow import (
    ChatMessage,
    ConfigurationError,
    GenerationRequest,
    LLMAdapter,
    OllamaAdapter,
    OpenAIAdapter,
    PipelineBuilder,
    PipelineConfig,
    Prompt,
    ProviderError,
    RetryPolicy,
)
from fanflow.adapters import EndpointPool
from fanflow.testing import Faults, MockServer

pytestmark = pytest.mark.timeout(60)

HELLO = (ChatMessage("user", "hello"),)
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def root(server: MockServer) -> str:
    return f"http://127.0.0.1:{server.port}"


async def test_the_request_carries_options_format_keep_alive_and_tools() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    request = GenerationRequest(
        HELLO,
        temperature=0.2,
        max_tokens=64,
        json_schema=schema,
        tools=(WEATHER_TOOL,),
        extra={"top_p": 0.9, "seed": 7, "stop": ["\n"], "num_ctx": 8192, "think": False},
    )
    async with (
        MockServer(record=True) as server,
        OllamaAdapter(
            root(server), model="mock-model", keep_alive="10m", options={"mirostat": 1}
        ) as adapter,
    ):
        await adapter.generate(request)

    (body,) = server.request_log
    assert body["model"] == "mock-model"
    assert body["stream"] is False
    assert body["messages"] == [{"role": "user", "content": "hello"}]
    assert body["options"] == {
        "mirostat": 1,
        "temperature": 0.2,
        "num_predict": 64,
        "top_p": 0.9,
        "seed": 7,
        "stop": ["\n"],
        "num_ctx": 8192,
    }
    assert body["format"] == schema
    assert body["keep_alive"] == "10m"
    assert body["think"] is False
    assert body["tools"] == [WEATHER_TOOL]


async def test_a_request_without_settings_sends_no_options() -> None:
    async with (
        MockServer(record=True) as server,
        OllamaAdapter(root(server), model="mock-model") as adapter,
    ):
        await adapter.generate(GenerationRequest(HELLO, extra={"keep_alive": -1}))

    (body,) = server.request_log
    assert "options" not in body and "format" not in body and "tools" not in body
    assert body["keep_alive"] == -1


async def test_text_and_usage_come_from_the_answer() -> None:
    async with (
        MockServer(lambda body: "four words of answer") as server,
        OllamaAdapter(root(server), model="mock-model") as adapter,
    ):
        generation = await adapter.generate(GenerationRequest(HELLO))

    assert generation.text == "four words of answer"
    assert generation.finish_reason == "stop"
    assert generation.model == "mock-model"
    assert generation.usage.prompt_tokens == 2  # the mock's 4 characters a token
    assert generation.usage.completion_tokens == 5
    assert not generation.usage.estimated
    assert generation.endpoint == root(server)


async def test_tool_calls_arrive_with_their_arguments_as_json_text() -> None:
    def call_weather(body: dict[str, Any]) -> dict[str, Any]:
        return {"tool_calls": [{"name": "weather", "arguments": {"city": "Oslo"}}]}

    async with (
        MockServer(call_weather) as server,
        OllamaAdapter(root(server), model="mock-model") as adapter,
    ):
        generation = await adapter.generate(GenerationRequest(HELLO, tools=(WEATHER_TOOL,)))

    (call,) = generation.tool_calls
    assert call.name == "weather"
    assert call.arguments == '{"city":"Oslo"}'
    assert generation.finish_reason == "tool_calls"
    assert generation.usage.completion_tokens > 0


async def test_a_model_not_pulled_says_to_ollama_pull_it() -> None:
    async with (
        MockServer() as server,
        OllamaAdapter(root(server), model="llama3.2:1b") as adapter,
    ):
        with pytest.raises(ProviderError) as caught:
            await adapter.generate(GenerationRequest(HELLO))

    error = caught.value
    assert error.status_code == 404
    assert not error.retryable
    assert "ollama pull llama3.2:1b" in str(error)
    assert "/api/chat" in str(error)


async def test_a_wrong_base_url_says_what_base_url_should_be() -> None:
    async with (
        MockServer() as server,
        OllamaAdapter(f"{root(server)}/v1", model="mock-model") as adapter,
    ):
        with pytest.raises(ProviderError, match="Ollama server root"):
            await adapter.generate(GenerationRequest(HELLO))


def prompt_pipeline(adapter: LLMAdapter, rows: int, **config: Any) -> PipelineBuilder:
    settings = PipelineConfig(progress=False, store=False, **config)
    builder = PipelineBuilder(settings, adapter).input([{"n": str(i)} for i in range(rows)])
    builder << Prompt("say", "say {{n}}")
    return builder


async def test_a_pipeline_runs_over_ollama() -> None:
    async with (
        MockServer() as server,
        OllamaAdapter(root(server), model="mock-model") as adapter,
    ):
        result = await prompt_pipeline(adapter, 20, concurrency=4).build().execute()

    assert result.stats.tasks["ok"] == 20
    assert sorted(row["say"] for row in result.rows) == sorted(
        f"mock answer: say {i}" for i in range(20)
    )


async def test_5xx_and_dropped_connections_are_retried_in_a_pipeline() -> None:
    faults = Faults(script=["server_error", "drop", "server_error"])
    policy = RetryPolicy(initial_backoff=0.01, jitter=0.0)
    async with (
        MockServer(faults=faults) as server,
        OllamaAdapter(root(server), model="mock-model") as adapter,
    ):
        result = await prompt_pipeline(adapter, 4, concurrency=1, retry=policy).build().execute()

    assert result.stats.tasks["ok"] == 4
    assert server.faults_applied["server_error"] == 2
    assert server.faults_applied["drop"] == 1


async def test_ollama_and_openai_endpoints_serve_one_pool() -> None:
    async with (
        MockServer(record=True) as server,
        EndpointPool(
            [
                OllamaAdapter(root(server), model="mock-model"),
                OpenAIAdapter(server.base_url, model="mock-model"),
            ]
        ) as pool,
    ):
        result = await prompt_pipeline(pool, 16, concurrency=8).build().execute()

    assert result.stats.tasks["ok"] == 16
    assert any("stream" in body for body in server.request_log)  # Ollama's bodies
    assert any("stream" not in body for body in server.request_log)  # OpenAI's


async def test_an_error_body_is_quoted_and_a_5xx_is_retryable() -> None:
    def failing(body: dict[str, Any]) -> str:
        raise ValueError("the GPU caught fire")

    async with (
        MockServer(failing) as server,
        OllamaAdapter(root(server), model="mock-model") as adapter,
    ):
        with pytest.raises(ProviderError, match="the GPU caught fire") as caught:
            await adapter.generate(GenerationRequest(HELLO))

    assert caught.value.status_code == 500
    assert caught.value.retryable


def test_a_misconfigured_adapter_names_itself() -> None:
    with pytest.raises(ConfigurationError, match="OllamaAdapter"):
        OllamaAdapter("127.0.0.1:11434", model="mock-model")
    adapter = OllamaAdapter(model="llama3.2")
    assert repr(adapter) == "OllamaAdapter(base_url='http://127.0.0.1:11434', model='llama3.2')"
    with pytest.raises(ConfigurationError, match="pass model= to OllamaAdapter"):
        OllamaAdapter().check_model(None)
