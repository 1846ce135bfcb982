"""Limits hold across shards together: the server never sees more requests at once than
the pipeline's `concurrency`, or a `RateLimiter`'s `max_in_flight`, however many shards."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from fanflow import OpenAIAdapter, PipelineBuilder, PipelineConfig, RateLimiter, RayRunner
from fanflow.testing import MockServer
from tests.branch_steps import Answer
from tests.ray.ray_steps import server_handler


class InFlight:
    """A mock server handler that answers after a pause and keeps the most at once."""

    def __init__(self) -> None:
        self.now = self.most = 0

    async def __call__(self, body: dict[str, Any]) -> str:
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            await asyncio.sleep(0.02)
            return server_handler(body)
        finally:
            self.now -= 1


@pytest.mark.parametrize(("concurrency", "limit", "expected"), [(4, None, 4), (64, 2, 2)])
async def test_shards_together_stay_within_the_configured_limits(
    ray_cluster: Any, tmp_path: Path, concurrency: int, limit: int | None, expected: int
) -> None:
    counter = InFlight()
    async with MockServer(counter) as server:
        adapter = OpenAIAdapter(server.base_url, model="mock-model")
        network = adapter if limit is None else RateLimiter(adapter, max_in_flight=limit)
        config = PipelineConfig(progress=False, store=tmp_path / "s.db", concurrency=concurrency)
        builder = PipelineBuilder(config, network).input([{"question": f"q{n}"} for n in range(60)])
        builder << Answer()
        result = await builder.build().execute(runner=RayRunner(shards=2))
    assert len(result.rows) == 60
    assert counter.most <= expected
