"""Tools of a step: Python functions from `set_tools`, and Dria's `http_request` tools.

The model is the project's mock server; the `http_request` tool's endpoint is a small
HTTP server on 127.0.0.1 that the test starts (it records what it got and answers JSON).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson

from fanflow import (
    Edge,
    OpenAIAdapter,
    PipelineBuilder,
    PipelineConfig,
    StepTemplate,
    TaskStatus,
    Workflow,
    WorkflowBuilder,
    Write,
)
from fanflow.testing import MockServer

CONFIG = PipelineConfig(progress=False, store=False)


def research_workflow(topic: str, custom_tools: list[dict[str, Any]] | None = None) -> Workflow:
    """Ask for a tool call, then write with what the tool returned (Dria's usual shape)."""
    builder = WorkflowBuilder(topic=topic)
    builder.function_calling_step(
        "Find facts on {{topic}}", id="find", outputs=[Write.new("facts")]
    )
    builder.generative_step(
        "Write about {{topic}} from: {{facts}}", id="write", outputs=[Write.new("text")]
    )
    builder.flow([Edge(source="find", target="write"), Edge(source="write", target="_end")])
    builder.set_return_value("text")
    workflow = builder.build()
    if custom_tools is None:
        return workflow
    config = workflow.config.model_copy(update={"custom_tools": custom_tools})
    return workflow.model_copy(update={"config": config})


class Research(StepTemplate):
    def create_workflow(self, topic: str) -> Workflow:
        return research_workflow(topic)


def model(body: dict[str, Any]) -> Any:
    """Calls the first offered tool with the topic, then writes from what it got."""
    prompt = body["messages"][-1]["content"]
    if prompt.startswith("Find facts on "):
        tool = body["tools"][0]["function"]["name"]
        return {"tool_calls": [{"name": tool, "arguments": {"query": prompt[14:]}}]}
    return f"essay <{prompt}>"


async def _run(step: StepTemplate, server: MockServer, topic: str = "owls") -> Any:
    adapter = OpenAIAdapter(server.base_url, model="mock-model")
    try:
        builder = PipelineBuilder(CONFIG, adapter).input(topic=topic)
        builder << step
        return await builder.build().execute()
    finally:
        await adapter.aclose()


# -- set_tools -----------------------------------------------------------------------------


async def test_a_step_runs_its_tools_and_the_next_request_reads_the_result() -> None:
    calls: list[tuple[str, int, str]] = []

    def search(query: str, limit: int = 2) -> list[str]:
        """Search the web."""
        calls.append((query, limit, threading.current_thread().name))
        return [f"{query} fact {n}" for n in range(limit)]

    async with MockServer(model, record=True) as server:
        result = await _run(Research().set_tools([search]), server)

    assert result.failures == []
    assert [call[:2] for call in calls] == [("owls", 2)]
    assert calls[0][2] != threading.main_thread().name  # a sync tool runs off the loop
    first, second = server.request_log
    assert first["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "search",
                "description": "Search the web.",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "query": {"type": "string"},
                        "limit": {"type": "integer", "default": 2},
                    },
                    "required": ["query"],
                },
            },
        }
    ]
    expected = 'Write about owls from: ["owls fact 0","owls fact 1"]'
    assert second["messages"][-1]["content"] == expected
    assert result.rows[0]["research"] == f"essay <{expected}>"


async def test_an_async_tool_is_awaited() -> None:
    async def lookup(query: str) -> dict[str, str]:
        await asyncio.sleep(0)
        return {"found": query.upper()}

    async with MockServer(model, record=True) as server:
        result = await _run(Research().set_tools([lookup]), server)

    assert result.rows[0]["research"] == 'essay <Write about owls from: {"found":"OWLS"}>'


async def test_the_model_arguments_are_converted_by_the_tool_type_hints() -> None:
    seen: list[Any] = []

    def search(query: str, limit: int) -> str:
        seen.append(limit)
        return "found"

    def answer(body: dict[str, Any]) -> Any:
        if "tools" in body:
            limit = "3" if "owls" in body["messages"][-1]["content"] else "many"
            return {"tool_calls": [{"name": "search", "arguments": {"query": "q", "limit": limit}}]}
        return "done"

    async with MockServer(answer) as server:
        adapter = OpenAIAdapter(server.base_url, model="mock-model")
        builder = PipelineBuilder(CONFIG, adapter).input([{"topic": "owls"}, {"topic": "cats"}])
        builder << Research().set_tools([search])
        result = await builder.build().execute()
        await adapter.aclose()

    assert seen == [3]  # "3" became the int the hint asks for
    (failure,) = result.failures
    assert "tool 'search' raised ValidationError" in (failure.error or "")
    assert "limit" in (failure.error or "")


async def test_a_tool_that_raises_fails_its_task_only() -> None:
    def search(query: str) -> str:
        if query == "cats":
            raise LookupError("no cats here")
        return f"{query}!"

    async with MockServer(model) as server:
        adapter = OpenAIAdapter(server.base_url, model="mock-model")
        builder = PipelineBuilder(CONFIG, adapter).input([{"topic": "owls"}, {"topic": "cats"}])
        builder << Research().set_tools([search])
        result = await builder.build().execute()
        await adapter.aclose()

    assert [row["research"] for row in result.rows] == ["essay <Write about owls from: owls!>"]
    (failure,) = result.failures
    assert failure.status is TaskStatus.FAILED
    assert "tool 'search' raised LookupError" in (failure.error or "")
    assert "no cats here" in (failure.error or "")


async def test_without_set_tools_the_task_says_which_tool_is_missing() -> None:
    class Declared(StepTemplate):
        def create_workflow(self, topic: str) -> Workflow:
            tool = {"name": "search", "description": "Search.", "parameters": {}}
            return research_workflow(topic, [tool])

    async with MockServer(model) as server:
        result = await _run(Declared(), server)

    (failure,) = result.failures
    assert "needs the tool 'search', which was not given" in (failure.error or "")
    assert "set_tools" in (failure.error or "")


# -- Dria's http_request tools ------------------------------------------------------------


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class ToolServer:
    url: str
    received: list[Received] = field(default_factory=list)


@asynccontextmanager
async def tool_server(status: int = 200, echo: bool = False) -> AsyncIterator[ToolServer]:
    """A one-route HTTP/1.1 server on 127.0.0.1 answering every request with JSON (with
    `echo`, the request's headers, as careless servers do in their errors)."""
    state = ToolServer("")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        method, path, _ = lines[0].split(" ")
        headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:] if line)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        state.received.append(Received(method, path, headers, body))
        payload = orjson.dumps({"price": 42, "got": orjson.loads(body) if body else None})
        if echo:
            payload = orjson.dumps({"error": "bad request", "headers": headers})
        reason = "OK" if status == 200 else "Error"
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
            + payload
        )
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    state.url = f"http://127.0.0.1:{port}/v1/price"
    try:
        yield state
    finally:
        server.close()
        await server.wait_closed()


def http_tool(url: str, method: str, **more: Any) -> dict[str, Any]:
    return {
        "name": "Price Feed",
        "description": "Fetches the price of a ticker.",
        "mode": "http_request",
        "url": url,
        "method": method,
        **more,
    }


class Prices(StepTemplate):
    def __init__(self, tool: dict[str, Any]) -> None:
        super().__init__()
        self.tool = tool

    def create_workflow(self, topic: str) -> Workflow:
        return research_workflow(topic, [self.tool])


async def test_an_http_request_tool_is_sent_by_fanflow_and_its_answer_fed_back() -> None:
    async with tool_server() as endpoint, MockServer(model, record=True) as server:
        tool = http_tool(
            endpoint.url,
            "POST",
            headers={"X-Feed": "gemini"},
            body={"query": "", "currency": "usd"},
        )
        result = await _run(Prices(tool), server)

    assert result.failures == []
    (received,) = endpoint.received
    assert (received.method, received.path) == ("POST", "/v1/price")
    assert received.headers["x-feed"] == "gemini"
    assert orjson.loads(received.body) == {"query": "owls", "currency": "usd"}
    first, second = server.request_log
    # As Dria offers it: its name in snake case, the body's keys as string parameters.
    (offered,) = first["tools"]
    assert offered["function"]["name"] == "price_feed"
    assert offered["function"]["parameters"]["properties"] == {
        "query": {"type": "string", "description": "The value for query"},
        "currency": {"type": "string", "description": "The value for currency"},
    }
    assert "url" not in offered["function"]  # where the tool lives is not the model's business
    answer = '{"price":42,"got":{"query":"owls","currency":"usd"}}'
    assert second["messages"][-1]["content"] == f"Write about owls from: {answer}"


async def test_an_http_request_get_tool_sends_no_body() -> None:
    async with tool_server() as endpoint, MockServer(model) as server:
        result = await _run(Prices(http_tool(endpoint.url, "GET")), server)

    assert result.failures == []
    (received,) = endpoint.received
    assert (received.method, received.body) == ("GET", b"")
    assert received.path == "/v1/price?query=owls"  # the model's arguments, as a query
    assert result.rows[0]["prices"] == 'essay <Write about owls from: {"price":42,"got":null}>'


async def test_an_http_request_tool_answering_an_error_fails_the_task() -> None:
    async with tool_server(status=500) as endpoint, MockServer(model) as server:
        result = await _run(Prices(http_tool(endpoint.url, "GET")), server)

    (failure,) = result.failures
    assert "tool 'price_feed'" in (failure.error or "")
    assert "500" in (failure.error or "")
    assert endpoint.url in (failure.error or "")


async def test_a_secret_header_of_an_http_request_tool_never_reaches_the_results() -> None:
    secret = "Bearer sk-tool-secret-0123456789"
    async with tool_server(status=500, echo=True) as endpoint, MockServer(model) as server:
        tool = http_tool(endpoint.url, "GET", headers={"Authorization": secret})
        result = await _run(Prices(tool), server)

    assert endpoint.received[0].headers["authorization"] == secret
    (failure,) = result.failures
    assert "500" in (failure.error or "")
    assert "sk-tool-secret" not in (failure.error or "")
    assert "<redacted>" in (failure.error or "")
