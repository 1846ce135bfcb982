"""The official `ollama` client pointed at the mock's `/api/chat` parses its answers, and
sends the body `OllamaAdapter` sends: the mock cannot drift from Ollama's wire format."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from fanflow import ChatMessage, GenerationRequest, OllamaAdapter
from fanflow.testing import MockServer

ollama = pytest.importorskip("ollama")

pytestmark = pytest.mark.timeout(60)

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "required": ["city"],
            "properties": {"city": {"type": "string", "description": "The city."}},
        },
    },
}
SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}}


def root(server: MockServer) -> str:
    return f"http://127.0.0.1:{server.port}"


@asynccontextmanager
async def official_client(server: MockServer) -> AsyncIterator[Any]:
    client = ollama.AsyncClient(host=root(server))
    try:
        yield client
    finally:
        await client.close()


async def test_the_official_client_parses_a_text_answer_and_its_usage() -> None:
    async with (
        MockServer(lambda body: "an answer") as server,
        official_client(server) as client,
    ):
        response = await client.chat(
            model="mock-model", messages=[{"role": "user", "content": "hello"}]
        )

    assert response.message.role == "assistant"
    assert response.message.content == "an answer"
    assert response.done is True
    assert response.done_reason == "stop"
    assert response.prompt_eval_count == 2
    assert response.eval_count == 3


async def test_the_official_client_parses_tool_calls() -> None:
    def call_weather(body: dict[str, Any]) -> dict[str, Any]:
        return {"tool_calls": [{"name": "weather", "arguments": {"city": "Oslo"}}]}

    async with MockServer(call_weather) as server, official_client(server) as client:
        response = await client.chat(
            model="mock-model",
            messages=[{"role": "user", "content": "weather in Oslo?"}],
            tools=[WEATHER_TOOL],
        )

    (call,) = response.message.tool_calls
    assert call.function.name == "weather"
    assert call.function.arguments == {"city": "Oslo"}


async def test_the_official_client_raises_its_error_for_a_model_not_pulled() -> None:
    async with MockServer() as server, official_client(server) as client:
        with pytest.raises(ollama.ResponseError) as caught:
            await client.chat(model="llama3.2", messages=[{"role": "user", "content": "hi"}])

    assert caught.value.status_code == 404
    assert "not found" in caught.value.error


async def test_the_adapter_sends_the_body_the_official_client_sends() -> None:
    options = {"temperature": 0.5, "num_predict": 32, "num_ctx": 4096, "seed": 1}
    async with MockServer(record=True) as server:
        async with official_client(server) as client:
            await client.chat(
                model="mock-model",
                messages=[{"role": "user", "content": "hello"}],
                tools=[WEATHER_TOOL],
                format=SCHEMA,
                options=options,
                keep_alive="5m",
            )
        request = GenerationRequest(
            (ChatMessage("user", "hello"),),
            temperature=0.5,
            max_tokens=32,
            json_schema=SCHEMA,
            tools=(WEATHER_TOOL,),
            extra={"num_ctx": 4096, "seed": 1},
        )
        async with OllamaAdapter(root(server), model="mock-model", keep_alive="5m") as adapter:
            await adapter.generate(request)

    official, ours = server.request_log
    assert ours == official
