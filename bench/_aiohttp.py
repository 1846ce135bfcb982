"""The baseline client of the benches: a bare aiohttp client, as a careful engineer writes one.

No fanflow import, so a bench can load it beside any checkout of fanflow.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson

MODEL = "bench-model"
SYSTEM = "You write one short, factual sentence."
USER = "Describe the city of Lyon in one sentence."

Send = Callable[[], Awaitable[str]]


async def drive(send: Send, requests: int, concurrency: int) -> None:
    """Keep `concurrency` requests in flight until `requests` have completed."""
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await send()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


class PlainAiohttp:
    """The fair minimal client: what a careful engineer writes by hand."""

    def __init__(self, base_url: str, concurrency: int) -> None:
        self.url = f"{base_url}/chat/completions"
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency),
            headers={"Content-Type": "application/json", "Authorization": "Bearer bench"},
        )

    async def send(self) -> str:
        payload = {
            "model": MODEL,
            "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}],
            "temperature": 0.7,
            "max_tokens": 64,
        }
        async with self.session.post(self.url, data=orjson.dumps(payload)) as response:
            data: Any = orjson.loads(await response.read())
        text: str = data["choices"][0]["message"]["content"]
        return text

    async def aclose(self) -> None:
        await self.session.close()
