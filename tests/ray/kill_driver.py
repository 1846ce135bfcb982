"""A driver for `test_driver_kill`: runs a sharded pipeline on its own local Ray
(`python -m tests.ray.kill_driver BASE_URL STORE`) until the test kills it; the test runs
the same pipeline (`pipeline`) again to resume it."""

from __future__ import annotations

import asyncio
import sys

from fanflow import OpenAIAdapter, Pipeline, PipelineBuilder, PipelineConfig, RayRunner
from tests.branch_steps import Answer, Questions

ROWS = 300
CONCURRENCY = 4  # in all: at most this many requests in flight when the driver is killed


def pipeline(url: str, store: str) -> Pipeline:
    settings = PipelineConfig(progress=False, store=store, concurrency=CONCURRENCY)
    builder = PipelineBuilder(settings, OpenAIAdapter(base_url=url, model="mock-model"))
    builder.input([{"topic": f"t{n}"} for n in range(ROWS)])
    builder << Questions().scatter() << Answer()
    return builder.build()


async def main(url: str, store: str) -> None:
    runner = RayRunner(shards=2, address="local", num_cpus=1, _node_ip_address="127.0.0.1")
    await pipeline(url, store).execute(runner=runner)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
