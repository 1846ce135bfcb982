"""cookbook/service.py: concurrent requests share one adapter; a disconnect cancels its run."""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest

from fanflow import OpenAIAdapter
from fanflow.testing import MockServer

COOKBOOK = Path(__file__).resolve().parent.parent / "cookbook"
pytestmark = pytest.mark.timeout(60)


def cookbook(name: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(COOKBOOK))
    return importlib.import_module(name)


class TopicLog:
    """The mock model: answers plausibly, counts requests per topic, signals an arrival."""

    def __init__(self, answer: Any, topics: list[str]) -> None:
        self.answer = answer
        self.requests = dict.fromkeys(topics, 0)
        self.arrived = {topic: asyncio.Event() for topic in topics}

    def __call__(self, body: dict[str, Any]) -> str:
        prompt = body["messages"][-1]["content"]
        for topic in self.requests:
            if topic in prompt:
                self.requests[topic] += 1
                self.arrived[topic].set()
        return str(self.answer(body))


async def test_concurrent_requests_and_a_disconnect(monkeypatch: pytest.MonkeyPatch) -> None:
    service = cookbook("service", monkeypatch)
    common = cookbook("_common", monkeypatch)
    kept, dropped = ["alpaca", "bison", "camel"], "dodo"
    log = TopicLog(common.plausible_answer, [*kept, dropped])
    async with (
        MockServer(log, latency=0.2) as server,
        OpenAIAdapter(server.base_url, model="mock-model", max_connections=4) as adapter,
    ):
        app = service.make_app(adapter)
        runs = app[service.RUNS]
        async with service.serve(app) as url, aiohttp.ClientSession() as client:

            async def ask(topic: str) -> dict[str, Any]:
                async with client.get(f"{url}/qa", params={"topic": topic}) as response:
                    assert response.status == 200, await response.text()
                    body: dict[str, Any] = await response.json()
                    return body

            answered = [asyncio.create_task(ask(topic)) for topic in kept]
            gone = asyncio.create_task(ask(dropped))
            await log.arrived[dropped].wait()  # its first step is at the model now
            gone.cancel()  # the client goes away: aiohttp closes the connection
            # A bound, so that a run left going fails here with a reason, not at the timeout.
            cancelled = runs.wait_until(lambda runs: dropped in runs.cancelled)
            await asyncio.wait_for(cancelled, timeout=20)
            sent_for_dropped = log.requests[dropped]
            bodies = await asyncio.gather(*answered)
            with pytest.raises(asyncio.CancelledError):
                await gone

    for topic, body in zip(kept, bodies, strict=True):
        assert not body["failures"]
        assert len(body["rows"]) == 5
        assert {row["topic"] for row in body["rows"]} == {topic}
        assert log.requests[topic] == 1 + 5 + 5
    # Cancelled during its first step: nothing more was sent for it, nothing runs on.
    assert log.requests[dropped] == sent_for_dropped == 1
    assert runs.cancelled == [dropped]
    assert runs.running == set()
    assert runs.finished == 4
