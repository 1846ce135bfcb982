"""The cookbook's QA pipeline at scale, against the mock server in a child process.

topic -> 5 subtopics (scatter) -> a question each -> an answer each: 11 LLM calls per
input row. Prints wall time against the ideal ceil(calls / concurrency) * latency, the
client's CPU per LLM call (all of fanflow: dispatch, executor, workflow building, HTTP,
and the store, in a fresh temporary file, with its writer process; `--no-store` to leave
it out; `engine_us_per_call` and `writer_us_per_call` split it between this process and
the store's writer child), and peak RSS. Then, in the same process and against the same
server, a bare aiohttp client (`bench/adapter.py`'s `PlainAiohttp`) sends as many
requests at the same concurrency, and the engine's CPU per call is printed as a ratio to
it (`x_aiohttp`).
Each run is a fresh process, so RSS is per run (read before the aiohttp baseline).

    python bench/pipeline.py --roots 2000 --latency 0.05 --concurrency 256 --runs 3

`--tree DIR` (repeatable) runs the fanflow and cookbook of another checkout (for example
`git worktree add /tmp/before HEAD~5`) in runs interleaved with this one's, so a change is
measured against the code before it in the same bench run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._cpu import cpu_seconds, cpu_split  # noqa: E402
from bench._scratch import scratch_folder  # noqa: E402

CALLS_PER_ROOT = 11


async def one_run(roots: int, latency: float, concurrency: int, store: bool) -> dict[str, float]:
    from qa_from_topics import build_pipeline

    from fanflow import OpenAIAdapter, PipelineBuilder, PipelineConfig
    from fanflow.testing import MockServerProcess

    topics = [f"topic {n}" for n in range(roots)]
    with MockServerProcess(latency=latency, handler="bench.qa_handler:answer") as server:
        async with OpenAIAdapter(server.base_url, model="bench-model") as adapter:
            where = scratch_folder() / "fanflow.db" if store else False
            # A script owns its process, so it may tune the collector (as `Pipeline.run()` does).
            config = PipelineConfig(
                concurrency=concurrency, progress=False, store=where, tune_gc=True
            )
            pipeline = build_pipeline(PipelineBuilder(config, adapter), topics).build()
            (own0, writer0), wall0 = cpu_split(), time.perf_counter()
            result = await pipeline.execute()
            (own1, writer1), wall = cpu_split(), time.perf_counter() - wall0
            own, writer = own1 - own0, writer1 - writer0
            cpu = own + writer
            calls = result.stats.requests
            if calls != roots * CALLS_PER_ROOT or result.failures:
                raise SystemExit(f"expected {roots * CALLS_PER_ROOT} ok calls, got {result.stats}")
            peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            aiohttp_cpu = await bare_aiohttp_cpu(server.base_url, calls, concurrency)
    ideal = math.ceil(calls / concurrency) * latency
    return {
        "rows": len(result.rows),
        "calls": calls,
        "wall_s": wall,
        "ideal_s": ideal,
        "wall_over_ideal": wall / ideal if ideal else float("nan"),
        "cpu_us_per_call": cpu / calls * 1e6,
        "engine_us_per_call": own / calls * 1e6,  # of which this process
        "writer_us_per_call": writer / calls * 1e6,  # and the store's writer child
        "peak_rss_mb": peak_rss,
        "aiohttp_us_per_call": aiohttp_cpu * 1e6,
        "x_aiohttp": cpu / calls / aiohttp_cpu,
    }


async def bare_aiohttp_cpu(base_url: str, calls: int, concurrency: int) -> float:
    """CPU seconds per request of a hand-written aiohttp client, same server, same load."""
    from bench._aiohttp import PlainAiohttp, drive

    client = PlainAiohttp(base_url, concurrency)
    try:
        cpu0 = cpu_seconds()
        await drive(client.send, calls, concurrency)
        return (cpu_seconds() - cpu0) / calls
    finally:
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roots", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-store", action="store_true", help="keep results in memory only")
    parser.add_argument("--tree", action="append", default=[], help="another checkout to run")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        tree = Path(args.tree[0])
        sys.path[:0] = [str(tree), str(tree / "cookbook")]
        run = one_run(args.roots, args.latency, args.concurrency, not args.no_store)
        print(json.dumps(asyncio.run(run)))
        return
    trees = [str(ROOT), *args.tree]
    runs: dict[str, list[dict[str, float]]] = {tree: [] for tree in trees}
    for number in range(1, args.runs + 1):
        for tree in trees:
            run = _child_run(args, tree)
            runs[tree].append(run)
            print(f"run {number} {tree}: " + ", ".join(f"{k}={v:.3g}" for k, v in run.items()))
    for tree, done in runs.items():
        medians = ", ".join(f"{k}={statistics.median(r[k] for r in done):.3g}" for k in done[0])
        print(f"median {tree}: {medians}")


def _child_run(args: argparse.Namespace, tree: str) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", "--tree", tree, "--roots", str(args.roots)]
    command += ["--latency", str(args.latency), "--concurrency", str(args.concurrency)]
    command += ["--no-store"] if args.no_store else []
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
