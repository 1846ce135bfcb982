"""What the store costs: client CPU per task with `store=False` and with a SQLite store.

The cookbook's QA pipeline (topic -> 5 subtopics -> a question each -> an answer each,
11 tasks per topic) runs on a `MockAdapter`, so there is no HTTP and nearly all the CPU is
the engine's. Each round runs it in memory, then with a fresh store in a temp dir (every
task is a cache miss, looked up, then written and committed), with a fresh store and
`use_cache=False` (written, never looked up: splits the cost in two), and again on the
first store (every task a cache hit: what resuming a finished run costs). The CPU counted is
the engine process's and the store's writer child's (`_cpu.py`). Rounds are interleaved
after a warm-up; medians are printed.

    python bench/store.py --roots 1000 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "cookbook")]

from qa_from_topics import build_pipeline  # noqa: E402

from bench._cpu import cpu_seconds  # noqa: E402
from bench.qa_handler import answer  # noqa: E402
from fanflow import GenerationRequest, MockAdapter, PipelineBuilder, PipelineConfig  # noqa: E402

TASKS_PER_ROOT = 11
MODES = ("memory", "store", "write_only", "cached")


def handler(request: GenerationRequest) -> str:
    return answer({"messages": [{"content": request.messages[-1].content}]})


async def one_run(roots: int, concurrency: int, store: Path | bool, use_cache: bool) -> float:
    """Client CPU seconds per task of one run (and a check that it did what it should)."""
    adapter = MockAdapter(handler)
    config = PipelineConfig(concurrency=concurrency, progress=False, tune_gc=True, store=store)
    builder = build_pipeline(PipelineBuilder(config, adapter), [f"topic {n}" for n in range(roots)])
    pipeline = builder.build()
    cpu = cpu_seconds()
    result = await pipeline.execute(use_cache=use_cache)
    cpu = cpu_seconds() - cpu
    tasks = roots * TASKS_PER_ROOT
    if result.stats.tasks.get("ok") != tasks:
        raise SystemExit(f"expected {tasks} ok tasks, got {result.stats.tasks}")
    return cpu / tasks


async def one_round(roots: int, concurrency: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="fanflow-bench-") as directory:
        path, other = Path(directory) / "fanflow.db", Path(directory) / "other.db"
        return {
            "memory": await one_run(roots, concurrency, False, use_cache=True),
            "store": await one_run(roots, concurrency, path, use_cache=True),
            "write_only": await one_run(roots, concurrency, other, use_cache=False),
            "cached": await one_run(roots, concurrency, path, use_cache=True),
        }


async def main(roots: int, concurrency: int, rounds: int) -> None:
    await one_round(max(roots // 10, 10), concurrency)  # warm-up: imports, caches
    results: list[dict[str, float]] = []
    for number in range(1, rounds + 1):
        result = await one_round(roots, concurrency)
        results.append(result)
        print(f"round {number}: " + _describe(result), flush=True)
    medians = {mode: statistics.median(r[mode] for r in results) for mode in MODES}
    tasks = roots * TASKS_PER_ROOT
    print(f"{tasks} tasks x {rounds} rounds at concurrency {concurrency}; medians per task:")
    print(f"  store=False            {medians['memory'] * 1e6:7.1f} us CPU")
    print(f"  store (all misses)     {medians['store'] * 1e6:7.1f} us CPU")
    print(f"  store, use_cache=False {medians['write_only'] * 1e6:7.1f} us CPU (no lookups)")
    print(f"  store (all cache hits) {medians['cached'] * 1e6:7.1f} us CPU")
    extra = (medians["store"] - medians["memory"]) * 1e6
    print(f"  the store adds {extra:.1f} us per task ({medians['store'] / medians['memory']:.2f}x)")


def _describe(result: dict[str, Any]) -> str:
    return ", ".join(f"{mode} {result[mode] * 1e6:.1f} us" for mode in MODES)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roots", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.roots, args.concurrency, args.rounds))
