"""Start-up: how long `import fanflow` takes, and how soon a run's first request arrives.

1. `import fanflow`: the cumulative time of the `fanflow` line of `python -X importtime`,
   in a fresh process each round.
2. First request: a mock server runs in this process; a fresh client process is started
   that sends 5,000 one-prompt tasks (fanflow with its default store, in a temporary
   directory), and the time from just before the process is started to the server's
   first arrival is measured (both on the system's monotonic clock). The baseline is a
   bare aiohttp script sending the same requests, started the same way, in the same
   rounds.

    python bench/startup.py [--rounds 7] [--tree /path/to/other/checkout]

`--tree` measures another checkout's fanflow the same way, in the same rounds.

Python caches compiled modules in `__pycache__` (pip writes them at install), so the
children run with bytecode caching on, whatever `PYTHONDONTWRITEBYTECODE` says here, after
one warm-up round that writes the caches; `--no-bytecode-cache` measures the other case,
every module compiled from source at each start (fanflow's own ~60 modules: ~50 ms here).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fanflow.testing import MockServer  # noqa: E402

PROMPTS = 5000

FANFLOW_CLIENT = """
import sys
from fanflow import OpenAIAdapter, PipelineBuilder, PipelineConfig, Prompt
base_url, prompts = sys.argv[1], int(sys.argv[2])
config = PipelineConfig(concurrency=64, progress=False)
builder = PipelineBuilder(config, OpenAIAdapter(base_url, model="bench-model"))
builder.input([{"question": f"question {n}"} for n in range(prompts)])
builder << Prompt("answer", "{{question}}")
builder.build().run()
"""

OLD_FANFLOW_CLIENT = """
import sys
from fanflow import OpenAIAdapter, PipelineBuilder, PipelineConfig, StepTemplate
from fanflow import WorkflowBuilder, Write
class Answer(StepTemplate):
    def create_workflow(self, question):
        builder = WorkflowBuilder(question=question)
        builder.generative_step(id="answer", prompt="{{question}}", outputs=[Write.new("out")])
        builder.set_return_value("out")
        return builder.build()
base_url, prompts = sys.argv[1], int(sys.argv[2])
config = PipelineConfig(concurrency=64, progress=False)
builder = PipelineBuilder(config, OpenAIAdapter(base_url, model="bench-model"))
builder.input([{"question": f"question {n}"} for n in range(prompts)])
builder << Answer()
builder.build().run()
"""

AIOHTTP_CLIENT = f"""
import asyncio, sys
sys.path.insert(0, {str(ROOT)!r})
from bench._aiohttp import PlainAiohttp, drive
async def main(base_url, prompts):
    client = PlainAiohttp(base_url, 64)
    await drive(client.send, prompts, 64)
    await client.aclose()
asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def child_env(tree: Path | None, bytecode_cache: bool) -> dict[str, str]:
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    if bytecode_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def import_seconds(tree: Path, bytecode_cache: bool) -> float:
    env = child_env(tree, bytecode_cache)
    command = [sys.executable, "-X", "importtime", "-c", "import fanflow"]
    # From a neutral directory: `-c` puts the working directory first on sys.path.
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, check=True, cwd=tempfile.gettempdir()
    )
    line = next(x for x in done.stderr.splitlines() if re.search(r"\|\s*fanflow$", x))
    return int(line.split("|")[1]) / 1e6


async def first_request_seconds(
    server: MockServer, code: str, tree: Path | None, bytecode_cache: bool
) -> float:
    env = child_env(tree, bytecode_cache)
    arrived = len(server.arrivals)
    with tempfile.TemporaryDirectory() as workdir:
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, server.base_url, str(PROMPTS), cwd=workdir, env=env
        )
        await asyncio.wait_for(process.wait(), 300)
    if process.returncode != 0:
        raise SystemExit(f"the client failed with {process.returncode}")
    return server.arrivals[arrived].time - started


async def bench(rounds: int, trees: list[Path], bytecode_cache: bool) -> None:
    clients: dict[str, tuple[str, Path | None]] = {"aiohttp": (AIOHTTP_CLIENT, None)}
    for tree in trees:
        code = FANFLOW_CLIENT if tree == ROOT else OLD_FANFLOW_CLIENT
        clients[f"fanflow {tree}"] = (code, tree)
    first: dict[str, list[float]] = {name: [] for name in clients}
    imports: dict[Path, list[float]] = {tree: [] for tree in trees}
    async with MockServer(lambda body: "An answer.") as server:
        for number in range(rounds + 1):  # round 0 warms the caches and is not counted
            for name, (code, tree) in clients.items():
                seconds = await first_request_seconds(server, code, tree, bytecode_cache)
                first[name].append(seconds)
            for tree in trees:
                imports[tree].append(import_seconds(tree, bytecode_cache))
            if number == 0:
                first = {name: [] for name in clients}
                imports = {tree: [] for tree in trees}
                continue
            print(f"round {number}: " + "  ".join(f"{n} {v[-1]:.3f}s" for n, v in first.items()))
    cache = "cached" if bytecode_cache else "no cached"
    print(f"\nmedians of {rounds} rounds ({cache} bytecode):")
    for tree, seconds in imports.items():
        print(f"  import fanflow ({tree}): {statistics.median(seconds):.3f} s")
    base = statistics.median(first["aiohttp"])
    for name, seconds in first.items():
        median = statistics.median(seconds)
        print(f"  first request, {name}: {median:.3f} s ({median / base:.2f}x aiohttp)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--tree", type=Path, action="append", default=[])
    parser.add_argument("--no-bytecode-cache", action="store_true")
    args = parser.parse_args()
    asyncio.run(bench(args.rounds, [ROOT, *args.tree], not args.no_bytecode_cache))


if __name__ == "__main__":
    main()
