"""Tools in one workflow run: Dria's custom tools as offered, functions run, sampling sent."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from fanflow import (
    Edge,
    ExecutionError,
    Generation,
    GenerationRequest,
    MockAdapter,
    ToolCall,
    Workflow,
    WorkflowBuilder,
    Write,
    run_workflow,
)


def calling(custom_tools: list[dict[str, Any]]) -> Workflow:
    builder = WorkflowBuilder(city="Oslo")
    builder.function_calling_step("Weather in {{city}}?", id="call", outputs=[Write.new("out")])
    builder.set_return_value("out")
    workflow = builder.build()
    config = workflow.config.model_copy(update={"custom_tools": custom_tools})
    return workflow.model_copy(update={"config": config})


def calls(name: str, arguments: str) -> MockAdapter:
    return MockAdapter(lambda request: Generation("", (ToolCall(name, arguments),)))


DRIA_CUSTOM = {
    "name": "Get Weather",
    "description": "Current weather in a city.",
    "mode": "custom",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "The city"}},
        "required": ["city"],
    },
}


async def test_a_dria_custom_tool_is_offered_as_dria_offers_it_and_run_by_its_function() -> None:
    adapter = calls("get_weather", '{"city": "Oslo"}')
    threads: list[str] = []

    def get_weather(city: str) -> str:
        threads.append(threading.current_thread().name)
        return f"rain in {city}"

    result = await run_workflow(calling([DRIA_CUSTOM]), adapter, tools={"get_weather": get_weather})

    assert result.result == "rain in Oslo"
    assert threads and threads[0] != threading.main_thread().name
    (request,) = adapter.requests
    assert request.tools == (
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather in a city.",
                "parameters": DRIA_CUSTOM["parameters"],
            },
        },
    )


async def test_a_sync_tool_does_not_block_the_event_loop() -> None:
    release = threading.Event()
    loop_ran = asyncio.Event()

    def slow(city: str) -> str:
        # On the event loop's own thread this would wait in vain: `unblock` could not run.
        return "released" if release.wait(timeout=5) else "the loop was blocked"

    async def unblock() -> None:
        loop_ran.set()  # runs only while the tool waits in its thread
        release.set()

    tool = {"name": "slow", "description": "", "parameters": {}}
    run = run_workflow(calling([tool]), calls("slow", '{"city": "x"}'), tools={"slow": slow})
    result, _ = await asyncio.gather(run, unblock())

    assert loop_ran.is_set()
    assert result.result == "released"


async def test_temperature_and_extra_go_with_every_request() -> None:
    seen: list[GenerationRequest] = []

    def model(request: GenerationRequest) -> str:
        seen.append(request)
        return "ok"

    builder = WorkflowBuilder(topic="owls")
    builder.generative_step("one {{topic}}", id="a", outputs=[Write.new("x")])
    builder.generative_step("two {{x}}", id="b", outputs=[Write.new("y")])
    builder.flow([Edge(source="a", target="b"), Edge(source="b", target="_end")])
    builder.set_return_value("y")

    await run_workflow(builder.build(), MockAdapter(model), temperature=0.4, extra={"seed": 2})

    assert [(r.temperature, r.extra) for r in seen] == [(0.4, {"seed": 2})] * 2


async def test_an_http_request_tool_without_a_url_fails_its_task() -> None:
    tool = {"name": "feed", "description": "", "mode": "http_request", "method": "GET"}

    with pytest.raises(ExecutionError, match="http_request tool 'feed' needs a url"):
        await run_workflow(calling([tool]), calls("feed", "{}"))


async def test_an_http_request_tool_that_never_answers_times_out() -> None:
    hung_up = asyncio.Event()

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await reader.read()  # never answer: wait until the client gives up and hangs up
        writer.close()
        await writer.wait_closed()
        hung_up.set()

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    tool = {
        "name": "feed",
        "description": "",
        "mode": "http_request",
        "method": "GET",
        "url": f"http://127.0.0.1:{port}/",
        "timeout": 0.2,
    }
    try:
        with pytest.raises(ExecutionError, match=r"tool 'feed' failed: GET .* no answer within"):
            await run_workflow(calling([tool]), calls("feed", "{}"))
        await asyncio.wait_for(hung_up.wait(), timeout=10)  # fanflow closed its connection
    finally:
        server.close()
        await server.wait_closed()
