"""Tests of fanflow.adapters, plus the loopback helpers they share.

The helpers live here (not in a conftest) so test modules can import them explicitly.
Everything binds to 127.0.0.1 only.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager

import anyio
import anyio.lowlevel
from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "served-model",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "hello there"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9},
}


@asynccontextmanager
async def serve(handler: Handler, extra: Mapping[str, Handler] | None = None) -> AsyncIterator[str]:
    """Run `handler` for POST /v1/chat/completions on 127.0.0.1; yield the base URL.

    `extra` maps further paths to their POST handlers.
    """
    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    for path, other in (extra or {}).items():
        app.router.add_post(path, other)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/v1"
    finally:
        await runner.cleanup()


def closed_port() -> int:
    """A port on 127.0.0.1 that was just bound and released, so connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class JumpClock:
    """A fake clock whose `sleep` moves time forward by the amount asked and returns at once."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await anyio.lowlevel.checkpoint()
