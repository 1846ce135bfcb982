"""How 429s cost: wall time under random 429s against the same run without faults, and the
requests a spent quota receives while it is spent.

    python bench/rate_limits.py --tasks 2000 --latency 0.05 --concurrency 128

Target (issue #12): with 5% random 429s (Retry-After: 1 s) the run takes at most 3x the
fault-free wall time and loses nothing; a server answering 429 to everything for 2 s
gets at most a few probes after the first burst.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from fanflow import OpenAIAdapter, PipelineBuilder, PipelineConfig, Prompt  # noqa: E402
from fanflow.testing import Faults, MockServer  # noqa: E402


async def run(tasks: int, latency: float, concurrency: int, faults: Faults | None) -> None:
    async with (
        MockServer(latency=latency, faults=faults, record=True) as server,
        OpenAIAdapter(server.base_url, model="mock-model") as adapter,
    ):
        config = PipelineConfig(progress=False, store=False, concurrency=concurrency)
        builder = PipelineBuilder(config, adapter).input([{"n": str(i)} for i in range(tasks)])
        builder << Prompt("say", "say {{n}}")
        started = time.perf_counter()
        result = await builder.build().execute()
        wall = time.perf_counter() - started
    limited = sum(1 for arrival in server.arrivals if arrival.status == 429)
    print(
        f"  {wall:6.2f} s  ok {result.stats.tasks['ok']}/{tasks}  rows {len(result.rows)}  "
        f"requests {len(server.arrivals)}  429s {limited}  "
        f"sent again before their Retry-After {len(server.early_resends())}"
    )


async def main(tasks: int, latency: float, concurrency: int) -> None:
    print(f"{tasks} tasks, {latency * 1000:g} ms latency, concurrency {concurrency}")
    print("no faults:")
    await run(tasks, latency, concurrency, None)
    print("5% random 429 (Retry-After: 1):")
    await run(tasks, latency, concurrency, Faults(rate_limit=0.05, seed=5))
    print(f"429 to everything for 2 s (first burst: up to {concurrency} requests):")
    await run(concurrency, latency, concurrency, Faults(rate_limit_for=2.0))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=128)
    args = parser.parse_args()
    asyncio.run(main(args.tasks, args.latency, args.concurrency))
