"""A branch-and-join pipeline at scale, against the mock server in a child process.

topic -> a question -> [llama, qwen, mistral] (three branches, each answers it) -> a judge
(the join: one task per question, once its three answers are in): 5 LLM calls per input
row, and `--roots` joins. Prints wall time against the ideal critical path, which is the
larger of ceil(calls / concurrency) * latency and the 3 calls in a row that each row
needs, and the client's CPU per LLM call (all of fanflow, the store included; `--no-store`
to leave it out), with a bare aiohttp client's CPU per request against the same server as
the baseline (`x_aiohttp`).

    python bench/branches.py --roots 10000 --latency 0.05 --concurrency 256 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._cpu import cpu_seconds  # noqa: E402
from bench._scratch import scratch_folder  # noqa: E402
from bench.pipeline import bare_aiohttp_cpu  # noqa: E402

CALLS_PER_ROOT = 5
CALLS_IN_A_ROW = 3  # question, a branch, the judge


async def one_run(roots: int, latency: float, concurrency: int, store: bool) -> dict[str, float]:
    from fanflow import OpenAIAdapter, PipelineBuilder, PipelineConfig, Prompt
    from fanflow.testing import MockServerProcess

    with MockServerProcess(latency=latency, handler="bench.qa_handler:answer") as server:
        async with OpenAIAdapter(server.base_url, model="bench-model") as adapter:
            where = scratch_folder() / "fanflow.db" if store else False
            config = PipelineConfig(
                concurrency=concurrency, progress=False, store=where, tune_gc=True
            )
            builder = PipelineBuilder(config, adapter)
            builder.input([{"topic": f"topic {n}"} for n in range(roots)])
            branches = [
                Prompt(name, "Answer: {{question}}").set_models([name])
                for name in ("llama", "qwen", "mistral")
            ]
            judge = Prompt("judge", "Judge {{question}}: {{llama}} | {{qwen}} | {{mistral}}")
            builder << Prompt("question", "Ask about {{topic}}") << branches << judge
            pipeline = builder.build()
            cpu0, wall0 = cpu_seconds(), time.perf_counter()
            result = await pipeline.execute()
            cpu, wall = cpu_seconds() - cpu0, time.perf_counter() - wall0
            calls = result.stats.requests
            if calls != roots * CALLS_PER_ROOT or result.failures or len(result.rows) != roots:
                raise SystemExit(f"expected {roots * CALLS_PER_ROOT} ok calls, got {result.stats}")
            aiohttp_cpu = await bare_aiohttp_cpu(server.base_url, calls, concurrency)
    ideal = max(math.ceil(calls / concurrency), CALLS_IN_A_ROW) * latency
    return {
        "joins": len(result.rows),
        "calls": calls,
        "wall_s": wall,
        "ideal_s": ideal,
        "wall_over_ideal": wall / ideal,
        "cpu_us_per_call": cpu / calls * 1e6,
        "aiohttp_us_per_call": aiohttp_cpu * 1e6,
        "x_aiohttp": cpu / calls / aiohttp_cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roots", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-store", action="store_true", help="keep results in memory only")
    args = parser.parse_args()
    runs = []
    for number in range(1, args.runs + 1):
        run = asyncio.run(one_run(args.roots, args.latency, args.concurrency, not args.no_store))
        runs.append(run)
        print(f"run {number}: " + ", ".join(f"{k}={v:.3g}" for k, v in run.items()))
    medians = ", ".join(f"{k}={statistics.median(r[k] for r in runs):.3g}" for k in runs[0])
    print(f"median: {medians}")


if __name__ == "__main__":
    main()
