"""The QA pipeline on Ray with 1, 2 and 4 shards, beside a local run, in one bench run.

topic -> 5 subtopics -> a question each -> an answer each (11 LLM calls per topic) against
fanflow's mock server (a child process, `--latency` seconds per answer). Each configuration
runs in a fresh process: a local `execute()`, then `execute(runner=RayRunner(shards=N))`
on a local Ray of `--ray-cpus` CPUs that the bench starts first (its start-up is timed
apart, `ray_start_s`). Printed per configuration, medians of `--runs`: wall time, calls
per second, and CPU per call of the whole process tree (driver, Ray's GCS and raylet, its
workers; not the mock server), read from /proc (`bench/_tree_cpu.py`).

    python bench/ray.py --roots 400 --latency 0.05 --concurrency 256 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, this file's folder comes first on the path, where `import ray` would
# find this very file: the folder goes, the repository (for `bench.*`) comes in.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path[:0] = [str(ROOT), str(ROOT / "cookbook")]

from bench._scratch import scratch_folder  # noqa: E402
from bench._tree_cpu import tree_cpu_seconds  # noqa: E402

CALLS_PER_ROOT = 11


async def one_run(args: argparse.Namespace) -> dict[str, float]:
    from qa_from_topics import build_pipeline

    from fanflow import OpenAIAdapter, PipelineBuilder, PipelineConfig, RayRunner
    from fanflow.testing import MockServerProcess

    topics = [f"topic {n}" for n in range(args.roots)]
    started = 0.0
    if args.shards:
        import ray

        clock = time.perf_counter()
        ray.init(num_cpus=args.ray_cpus, include_dashboard=False, log_to_driver=False)
        started = time.perf_counter() - clock
    with MockServerProcess(latency=args.latency, handler="bench.qa_handler:answer") as server:
        async with OpenAIAdapter(server.base_url, model="bench-model") as adapter:
            store = scratch_folder() / "fanflow.db"
            config = PipelineConfig(concurrency=args.concurrency, progress=False, store=store)
            pipeline = build_pipeline(PipelineBuilder(config, adapter), topics).build()
            runner = RayRunner(shards=args.shards) if args.shards else None
            cpu0, wall0 = tree_cpu_seconds(server.pid), time.perf_counter()
            result = await pipeline.execute(runner=runner)
            cpu, wall = tree_cpu_seconds(server.pid) - cpu0, time.perf_counter() - wall0
    calls = result.stats.requests
    if calls != args.roots * CALLS_PER_ROOT or result.failures:
        raise SystemExit(f"expected {args.roots * CALLS_PER_ROOT} ok calls, got {result.stats}")
    return {
        "wall_s": wall,
        "calls_per_s": calls / wall,
        "cpu_us_per_call": cpu / calls * 1e6,
        "ray_start_s": started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roots", type=int, default=400)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--shards", default="0,1,2,4", help="0 is the local run")
    parser.add_argument("--ray-cpus", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600.0, help="per run, seconds")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.shards = int(args.shards)
        print(json.dumps(asyncio.run(one_run(args))))
        return
    shard_counts = [int(part) for part in args.shards.split(",")]
    runs: dict[int, list[dict[str, float]]] = {n: [] for n in shard_counts}
    for number in range(1, args.runs + 1):
        for shards in shard_counts:
            run = _child_run(args, shards)
            runs[shards].append(run)
            print(
                f"run {number} {_label(shards)}: "
                + ", ".join(f"{k}={v:.3g}" for k, v in run.items())
            )
    for shards, done in runs.items():
        medians = ", ".join(f"{k}={statistics.median(r[k] for r in done):.3g}" for k in done[0])
        print(f"median {_label(shards)}: {medians}")


def _label(shards: int) -> str:
    return "local" if shards == 0 else f"ray {shards} shard{'s' * (shards > 1)}"


def _child_run(args: argparse.Namespace, shards: int) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", "--shards", str(shards)]
    for name in ("roots", "latency", "concurrency", "ray_cpus"):
        command += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=args.timeout)
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
