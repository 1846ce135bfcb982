"""The mock OpenAI-compatible server: wire format, knobs, lifecycle, child process."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import subprocess
import sys
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest
from openai.types import Model
from openai.types.chat import ChatCompletion

import fanflow.testing
from fanflow.testing import MockServer, MockServerProcess

pytestmark = pytest.mark.timeout(30)

STEP = 5.0  # upper bound for any single await, so a broken server fails instead of hanging
CHAT = {"model": "test-model", "messages": [{"role": "user", "content": "hello there"}]}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def shout(body: dict[str, Any]) -> str:
    """A handler the child process imports by name (``tests.testing.test_server:shout``)."""
    return str(body["messages"][-1]["content"]).upper()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=STEP) as http:
        yield http


async def post_chat(
    http: httpx.AsyncClient, server: MockServer, body: dict[str, Any] = CHAT
) -> httpx.Response:
    return await http.post(f"{server.base_url}/chat/completions", json=body)


def raw_request(body: bytes, *, path: bytes = b"/v1/chat/completions", extra: bytes = b"") -> bytes:
    return (
        b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n%s\r\n%s" % (path, len(body), extra, body)
    )


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response off a raw stream; relies on Content-Length, as a client would."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), STEP)
    status_line, *lines = head.decode("latin-1").strip().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), STEP)
    return int(status_line.split()[1]), headers, body


async def assert_closed_by_server(reader: asyncio.StreamReader) -> None:
    """The server hung up: EOF (FIN) or a reset, never more data."""
    with contextlib.suppress(ConnectionResetError):
        assert await asyncio.wait_for(reader.read(), STEP) == b""


async def open_raw(server: MockServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", server.port), STEP)


async def close_raw(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


# -- chat completions ------------------------------------------------------------------


async def test_chat_completion_round_trip_validates_with_openai_types(
    client: httpx.AsyncClient,
) -> None:
    async with MockServer() as server:
        response = await post_chat(client, server)
        assert server.requests_total == 1
        assert server.completions_total == 1
        assert server.request_log == []  # record=False by default
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["content-length"]) == len(response.content)
    completion = ChatCompletion.model_validate(response.json())
    assert completion.object == "chat.completion"
    assert completion.model == "test-model"
    choice = completion.choices[0]
    assert (choice.index, choice.finish_reason) == (0, "stop")
    assert choice.message.role == "assistant"
    assert choice.message.content == "mock answer: hello there"
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


async def test_default_answer_uses_last_user_message_and_default_model(
    client: httpx.AsyncClient,
) -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "x" * 500}]},
    ]
    async with MockServer() as server:
        response = await post_chat(client, server, {"messages": messages})
    body = response.json()
    assert body["model"] == "mock-model"
    assert body["choices"][0]["message"]["content"] == "mock answer: " + "x" * 200


async def test_openai_sdk_client_talks_to_the_server() -> None:
    async with MockServer(lambda body: "sdk ok") as server:
        sdk = openai.AsyncOpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        async with sdk:
            completion = await asyncio.wait_for(
                sdk.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": "hi"}]
                ),
                STEP,
            )
    assert completion.choices[0].message.content == "sdk ok"


async def test_sync_handler_gets_the_full_request_body(client: httpx.AsyncClient) -> None:
    seen: list[dict[str, Any]] = []

    def handler(body: dict[str, Any]) -> str:
        seen.append(body)
        return f"{len(body['messages'])} messages at T={body['temperature']}"

    async with MockServer(handler, record=True) as server:
        response = await post_chat(client, server, {**CHAT, "temperature": 0.3})
        assert server.request_log == seen
    assert seen == [{**CHAT, "temperature": 0.3}]
    assert response.json()["choices"][0]["message"]["content"] == "1 messages at T=0.3"


async def test_async_handler(client: httpx.AsyncClient) -> None:
    async def handler(body: dict[str, Any]) -> str:
        await asyncio.sleep(0)
        return "async " + str(body["messages"][0]["content"])

    async with MockServer(handler) as server:
        response = await post_chat(client, server)
        assert server.completions_total == 1
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "async hello there"


def _failing_sync(body: dict[str, Any]) -> str:
    raise ValueError("boom from handler")


async def _failing_async(body: dict[str, Any]) -> str:
    await asyncio.sleep(0)
    raise ValueError("boom from handler")


@pytest.mark.parametrize("handler", [_failing_sync, _failing_async], ids=["sync", "async"])
async def test_handler_exception_answers_500_naming_it(
    client: httpx.AsyncClient, handler: Any
) -> None:
    async with MockServer(handler) as server:
        response = await post_chat(client, server)
        assert server.completions_total == 0
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["type"] == "server_error"
    assert "ValueError" in error["message"] and "boom from handler" in error["message"]


async def test_tool_calls_answer_validates_with_openai_types(client: httpx.AsyncClient) -> None:
    def handler(body: dict[str, Any]) -> dict[str, Any]:
        return {"tool_calls": [{"name": "get_weather", "arguments": '{"city": "Paris"}'}]}

    async with MockServer(handler) as server:
        response = await post_chat(client, server, {**CHAT, "tools": TOOLS})
    assert response.status_code == 200
    completion = ChatCompletion.model_validate(response.json())
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls
    assert calls is not None and len(calls) == 1
    assert calls[0].type == "function" and calls[0].id
    assert calls[0].function.name == "get_weather"
    assert orjson.loads(calls[0].function.arguments) == {"city": "Paris"}


async def test_tool_calls_without_declared_tools_is_a_500(client: httpx.AsyncClient) -> None:
    async with MockServer(lambda body: {"tool_calls": [{"name": "f"}]}) as server:
        response = await post_chat(client, server)
    assert response.status_code == 500
    assert "tools" in response.json()["error"]["message"]


async def test_a_raw_message_is_sent_as_it_is_with_its_finish_reason(
    client: httpx.AsyncClient,
) -> None:
    message = {"role": "assistant", "content": [{"type": "text", "text": "cut"}]}
    answer = {"message": message, "finish_reason": "length", "content_encoding": "gzip"}
    async with MockServer(lambda body: answer) as server:
        response = await post_chat(client, server)  # httpx decodes the gzip body
    assert response.headers["content-encoding"] == "gzip"
    (choice,) = response.json()["choices"]
    assert (choice["message"], choice["finish_reason"]) == (message, "length")


async def test_an_unknown_content_encoding_is_a_500(client: httpx.AsyncClient) -> None:
    answer = {"message": {"role": "assistant", "content": "x"}, "content_encoding": "br"}
    async with MockServer(lambda body: answer) as server:
        response = await post_chat(client, server)
    assert response.status_code == 500
    assert "gzip or deflate" in response.json()["error"]["message"]


# -- other endpoints and errors --------------------------------------------------------


async def test_models_listing_validates_with_openai_types(client: httpx.AsyncClient) -> None:
    async with MockServer(models=("alpha", "beta")) as server:
        response = await client.get(f"{server.base_url}/models")
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    models = [Model.model_validate(item) for item in body["data"]]
    assert [m.id for m in models] == ["alpha", "beta"]
    assert all(m.owned_by == "fanflow" and m.object == "model" for m in models)


async def test_unknown_path_is_404_with_openai_error(client: httpx.AsyncClient) -> None:
    async with MockServer() as server:
        response = await client.post(f"{server.base_url}/completions?x=1", json=CHAT)
        assert server.requests_total == 1
        assert server.completions_total == 0
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "unknown_url"
    assert "/v1/completions" in error["message"]


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b'{"messages": [', "invalid_json"),
        (b"[1, 2]", "invalid_request"),
        (b'{"model": "m"}', "invalid_request"),
    ],
)
async def test_bad_body_is_400_with_openai_error(
    client: httpx.AsyncClient, content: bytes, code: str
) -> None:
    async with MockServer() as server:
        response = await client.post(f"{server.base_url}/chat/completions", content=content)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", code)
    assert error["message"]


async def test_malformed_http_gets_400_and_hang_up() -> None:
    async with MockServer() as server:
        reader, writer = await open_raw(server)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        status, headers, body = await read_response(reader)
        await assert_closed_by_server(reader)
        await close_raw(writer)
    assert status == 400
    assert headers["connection"] == "close"
    assert orjson.loads(body)["error"]["type"] == "invalid_request_error"


def test_refuses_non_loopback_host() -> None:
    for host in ("0.0.0.0", "192.168.1.10", "::1", "localhost"):
        with pytest.raises(ValueError, match="loopback"):
            MockServer(host=host)


# -- latency ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/chat/completions", "/models"])
async def test_latency_delays_the_answer(client: httpx.AsyncClient, path: str) -> None:
    latency = 0.3
    loop = asyncio.get_running_loop()
    async with MockServer(latency=latency) as server:
        started = loop.time()
        if path == "/models":
            response = await client.get(server.base_url + path)
        else:
            response = await post_chat(client, server)
        elapsed = loop.time() - started
    assert response.status_code == 200
    assert elapsed >= latency - 1e-3


# -- connections -----------------------------------------------------------------------


async def test_keep_alive_serves_many_requests_on_one_connection() -> None:
    async with MockServer() as server:
        reader, writer = await open_raw(server)
        answers = []
        for i in range(50):
            body = {"messages": [{"role": "user", "content": f"q{i}"}]}
            writer.write(raw_request(orjson.dumps(body)))
            status, headers, payload = await read_response(reader)
            assert status == 200 and "connection" not in headers
            answers.append(orjson.loads(payload)["choices"][0]["message"]["content"])
        assert len(server._connections) == 1
        await close_raw(writer)
    assert answers == [f"mock answer: q{i}" for i in range(50)]


async def test_pipelined_requests_are_answered_in_order() -> None:
    async def handler(body: dict[str, Any]) -> str:
        content = str(body["messages"][0]["content"])
        if content == "p0":  # the first answer is the slowest; it must still come first
            await asyncio.sleep(0.05)
        return content

    async with MockServer(handler) as server:
        reader, writer = await open_raw(server)
        bodies = [
            orjson.dumps({"messages": [{"role": "user", "content": f"p{i}"}]}) for i in range(5)
        ]
        writer.write(b"".join(raw_request(body) for body in bodies))
        answers = [orjson.loads((await read_response(reader))[2]) for _ in bodies]
        await close_raw(writer)
    assert [a["choices"][0]["message"]["content"] for a in answers] == [f"p{i}" for i in range(5)]


async def test_connection_close_request_is_honoured() -> None:
    async with MockServer() as server:
        reader, writer = await open_raw(server)
        writer.write(raw_request(orjson.dumps(CHAT), extra=b"Connection: close\r\n"))
        status, headers, _ = await read_response(reader)
        await assert_closed_by_server(reader)
        await close_raw(writer)
    assert status == 200
    assert headers["connection"] == "close"


async def test_stop_closes_keep_alive_connections_and_frees_the_port() -> None:
    server = MockServer()
    await server.start()
    port = server.port
    reader, writer = await open_raw(server)
    writer.write(raw_request(orjson.dumps(CHAT)))
    assert (await read_response(reader))[0] == 200
    await asyncio.wait_for(server.stop(), STEP)
    await assert_closed_by_server(reader)
    await close_raw(writer)
    with pytest.raises(OSError):
        await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), STEP)
    async with MockServer(port=port) as again:  # the port is free to bind again
        assert again.port == port


async def test_stop_drops_answers_still_waiting_for_latency() -> None:
    received = asyncio.Event()

    def handler(body: dict[str, Any]) -> str:
        received.set()
        return "too late"

    server = MockServer(handler, latency=60.0)
    await server.start()
    reader, writer = await open_raw(server)
    writer.write(raw_request(orjson.dumps(CHAT)))
    await asyncio.wait_for(received.wait(), STEP)
    connection = weakref.ref(next(iter(server._connections)))
    await asyncio.wait_for(server.stop(), STEP)
    await assert_closed_by_server(reader)  # no answer, just the hang-up
    await close_raw(writer)
    gc.collect()
    assert connection() is None, "a pending call_later answer still holds the connection"


async def test_stop_cancels_a_running_async_handler() -> None:
    entered, cancelled = asyncio.Event(), asyncio.Event()

    async def handler(body: dict[str, Any]) -> str:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    server = MockServer(handler)
    await server.start()
    reader, writer = await open_raw(server)
    writer.write(raw_request(orjson.dumps(CHAT)))
    await asyncio.wait_for(entered.wait(), STEP)
    await asyncio.wait_for(server.stop(), STEP)
    assert cancelled.is_set()
    await assert_closed_by_server(reader)
    await close_raw(writer)


# -- child process ---------------------------------------------------------------------


def _child_env() -> dict[str, str]:
    root = str(Path(fanflow.testing.__file__).parents[2])
    return {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}


def test_module_help_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fanflow.testing", "--help"],
        capture_output=True,
        text=True,
        timeout=20,
        env=_child_env(),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "--latency" in done.stdout and "--handler" in done.stdout


def test_server_process_serves_and_terminates_cleanly() -> None:
    server = MockServerProcess(handler="tests.testing.test_server:shout", latency=0.01)
    with server:
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        response = httpx.post(f"{server.base_url}/chat/completions", json=CHAT, timeout=STEP)
        assert server.returncode is None
    assert response.status_code == 200
    assert ChatCompletion.model_validate(response.json()).choices[0].message.content == (
        "HELLO THERE"
    )
    assert server.returncode == 0  # SIGTERM is a clean shutdown, not a kill


def test_server_process_reports_a_child_that_dies() -> None:
    with (
        pytest.raises(RuntimeError, match="exited before listening") as caught,
        MockServerProcess(handler="no_such_module_for_fanflow:handler"),
    ):
        pass
    assert "no_such_module_for_fanflow" in str(caught.value)
