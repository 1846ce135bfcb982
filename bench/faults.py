"""The QA pipeline through a mix of every fault the mock server injects; prints what happened.

    python bench/faults.py --topics 400 --concurrency 64

Each task must end ok or failed with a reason; the figures show how many requests each
fault cost and how many tasks still failed after retries.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from fanflow import RetryPolicy  # noqa: E402
from tests.integration.test_faults import EVERY_FAULT, qa_pipeline, serve  # noqa: E402


async def main(topics: int, concurrency: int) -> None:
    policy = RetryPolicy(attempts=5, initial_backoff=0.01, max_backoff=0.2, jitter=0.01)
    async with serve(EVERY_FAULT, timeout=1.0) as (server, adapter):
        started = time.perf_counter()
        pipeline = qa_pipeline(adapter, topics, concurrency=concurrency, retry=policy)
        result = await pipeline.build().execute()
        wall = time.perf_counter() - started
    tasks = sum(len(step.results) for step in result.steps.values())
    print(f"{tasks} tasks in {wall:.1f}s; statuses {result.stats.tasks}")
    print(f"{len(server.arrivals)} requests (client counted {result.stats.requests})")
    print(f"faults injected: {dict(server.faults_applied)}")
    reasons = Counter((f.error or "").split(":")[0] for f in result.failures)
    print(f"rows {len(result.rows)}; failures by kind: {dict(reasons)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topics", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    asyncio.run(main(args.topics, args.concurrency))
