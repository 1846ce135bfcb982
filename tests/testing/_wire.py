"""Small helpers shared by the fault tests: raw HTTP over asyncio streams, bounded waits."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from fanflow.testing import MockServer

STEP = 5.0  # upper bound for any single await, so a broken server fails instead of hanging
CHAT: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hello there"}]}


async def post_chat(http: httpx.AsyncClient, server: MockServer) -> httpx.Response:
    return await http.post(f"{server.base_url}/chat/completions", json=CHAT)


def raw_request(body: bytes = orjson.dumps(CHAT)) -> bytes:
    return (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )


async def open_raw(server: MockServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", server.port), STEP)


async def close_raw(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


async def read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), STEP)
    status_line, *lines = head.decode("latin-1").strip().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers


async def assert_closed_by_server(reader: asyncio.StreamReader) -> None:
    """The server hung up without sending anything: EOF (FIN) or a reset."""
    with contextlib.suppress(ConnectionResetError):
        assert await asyncio.wait_for(reader.read(), STEP) == b""


async def until(condition: Callable[[], bool]) -> None:
    """Wait (at most STEP seconds) for a server-side condition no event announces."""

    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.002)

    await asyncio.wait_for(poll(), STEP)
