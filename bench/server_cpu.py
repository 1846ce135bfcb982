"""CPU time the mock server spends per request, read from the child's /proc/<pid>/stat.

The server runs in a child process (`MockServerProcess`) so the aiohttp client's own
CPU is not counted. Target: under 50 microseconds of server CPU per request.

    python bench/server_cpu.py --requests 20000 --concurrency 128 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

import aiohttp

try:
    from fanflow.testing import MockServerProcess
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from fanflow.testing import MockServerProcess

_BODY = {
    "model": "bench-model",
    "messages": [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": "Write one sentence about the sea, please."},
    ],
    "temperature": 0.7,
    "max_tokens": 64,
}


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid`, in seconds (fields 14 and 15 of /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def fire(url: str, requests: int, concurrency: int) -> None:
    """Send `requests` chat completions over at most `concurrency` keep-alive connections."""
    remaining = requests
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                async with session.post(url, json=_BODY) as response:
                    if response.status != 200:
                        raise RuntimeError(f"server answered {response.status}")
                    await response.read()

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def one_run(args: argparse.Namespace) -> float:
    """Server CPU microseconds per request for one fresh child server."""
    with MockServerProcess(latency=args.latency) as server:
        url = server.base_url + "/chat/completions"
        asyncio.run(fire(url, args.warmup, args.concurrency))
        cpu_before, wall_before = cpu_seconds(server.pid), time.perf_counter()
        asyncio.run(fire(url, args.requests, args.concurrency))
        cpu, wall = cpu_seconds(server.pid) - cpu_before, time.perf_counter() - wall_before
    per_request: float = cpu / int(args.requests) * 1e6
    print(
        f"{args.requests} requests in {wall:.2f}s ({args.requests / wall:,.0f} req/s), "
        f"server CPU {cpu:.2f}s = {per_request:.1f} us/request",
        flush=True,
    )
    return per_request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=128)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--warmup", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results = [one_run(args) for _ in range(args.runs)]
    print(f"median server CPU: {statistics.median(results):.1f} us/request (target < 50)")


if __name__ == "__main__":
    main()
