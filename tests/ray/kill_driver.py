"""A driver for `test_driver_kill`: runs a long sharded pipeline on its own local Ray
(`python -m tests.ray.kill_driver BASE_URL STORE`) until the test kills it."""

from __future__ import annotations

import asyncio
import sys

from fanflow import OpenAIAdapter, PipelineBuilder, PipelineConfig, RayRunner
from tests.ray.ray_steps import Answer, Questions


async def main(url: str, store: str) -> None:
    settings = PipelineConfig(progress=False, store=store, concurrency=4)
    builder = PipelineBuilder(settings, OpenAIAdapter(base_url=url, model="mock-model"))
    builder.input([{"topic": f"t{n}"} for n in range(2000)])
    builder << Questions().scatter() << Answer()
    runner = RayRunner(shards=2, address="local", num_cpus=1, _node_ip_address="127.0.0.1")
    await builder.build().execute(runner=runner)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
