"""Client CPU per request: OpenAIAdapter against a minimal aiohttp client.

The engine's throughput on one process is bounded by client CPU per request, so the
adapter must add little over the cheapest correct client. This sends the same chat
completion requests to fanflow's mock server (in a child process, so its CPU is not
counted) with

  aiohttp  one ClientSession, TCPConnector(limit=concurrency), orjson in and out
  adapter  OpenAIAdapter.generate over AiohttpTransport
  fast     OpenAIAdapter over FastTransport (asyncio.Protocol + httptools), its default
  httpx    OpenAIAdapter over HttpxTransport (an httpx.AsyncClient), for reference
  ollama   OllamaAdapter (the mock's /api/chat) over FastTransport, against `fast`
  anthropic AnthropicAdapter (the mock's /v1/messages) over FastTransport, against `fast`
  batch    OpenAIBatchAdapter (the mock's Batch API, jobs of `--concurrency` requests), not
           run by default: the CPU per request of the batch bookkeeping and its httpx calls

measuring `time.process_time()` around each run after a warm-up, in interleaved rounds,
and prints the medians and the adapter/aiohttp ratio (target: at most 1.5).

    python bench/adapter.py [--requests 5000] [--concurrency 256] [--rounds 5] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._aiohttp import MODEL, SYSTEM, USER, PlainAiohttp, Send, drive
from fanflow import (
    AnthropicAdapter,
    ChatMessage,
    GenerationRequest,
    OllamaAdapter,
    OpenAIAdapter,
    OpenAIBatchAdapter,
)
from fanflow.adapters import (
    AiohttpTransport,
    FastTransport,
    HTTPResponse,
    HTTPTransport,
    HttpxTransport,
)
from fanflow.testing import MockServerProcess


class AdapterClient:
    """An adapter's generate, over whichever transport it was given (closed with it)."""

    def __init__(self, adapter: OpenAIAdapter, transport: HTTPTransport | None = None) -> None:
        self.adapter = adapter
        self.transport = transport
        self.request = GenerationRequest(
            messages=(ChatMessage("system", SYSTEM), ChatMessage("user", USER)),
            temperature=0.7,
            max_tokens=64,
        )

    async def send(self) -> str:
        return (await self.adapter.generate(self.request)).text

    async def aclose(self) -> None:
        await self.adapter.aclose()
        if self.transport is not None:
            await self.transport.aclose()


def make_client(name: str, base_url: str, concurrency: int) -> PlainAiohttp | AdapterClient:
    if name == "aiohttp":
        return PlainAiohttp(base_url, concurrency)
    if name == "ollama":  # the mock's /api/chat knows only its own model, as Ollama would
        root = base_url.removesuffix("/v1")
        fast = FastTransport(max_connections=concurrency)
        return AdapterClient(OllamaAdapter(root, model="mock-model", transport=fast), fast)
    if name == "batch":
        batch = OpenAIBatchAdapter(
            base_url, model=MODEL, max_batch_size=concurrency, max_wait=0.01, poll_interval=0.01
        )
        return AdapterClient(batch, None)
    if name == "anthropic":
        fast = FastTransport(max_connections=concurrency)
        anthropic = AnthropicAdapter("bench", model=MODEL, base_url=base_url, transport=fast)
        return AdapterClient(anthropic, fast)
    if name == "adapter":
        transport: HTTPTransport = AiohttpTransport(max_connections=concurrency)
    elif name == "fast":
        transport = FastTransport(max_connections=concurrency)
    else:  # a client of its own, closed with it
        transport = HttpxTransport(max_connections=concurrency, timeout=600.0)
    adapter = OpenAIAdapter(base_url, api_key="bench", model=MODEL, transport=transport)
    return AdapterClient(adapter, transport)


async def measure(send: Send, requests: int, concurrency: int) -> tuple[float, float]:
    """(client CPU seconds per request, requests per wall-clock second)."""
    cpu, wall = time.process_time(), time.perf_counter()
    await drive(send, requests, concurrency)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu / requests, requests / wall


async def bench(args: argparse.Namespace, base_url: str) -> None:
    clients = {name: make_client(name, base_url, args.concurrency) for name in args.clients}
    cpu: dict[str, list[float]] = {name: [] for name in clients}
    rate: dict[str, list[float]] = {name: [] for name in clients}
    try:
        for client in clients.values():
            await drive(client.send, args.warmup, args.concurrency)
        for round_number in range(1, args.rounds + 1):
            # Interleave the clients so drift (thermal, noisy neighbours) hits all alike.
            for name, client in clients.items():
                per_request, per_second = await measure(
                    client.send, args.requests, args.concurrency
                )
                cpu[name].append(per_request)
                rate[name].append(per_second)
            print(
                f"round {round_number}: "
                + "  ".join(f"{n} {cpu[n][-1] * 1e6:7.1f} us" for n in clients)
            )
        if args.profile:
            for name, client in clients.items():
                print(f"\n--- cProfile of one {name} run")
                await profile(client.send, args)
    finally:
        for client in clients.values():
            await client.aclose()
    report(args, cpu, rate)
    plain, adapter = await own_overhead()
    print(
        f"  without I/O (canned answer): hand-written {plain * 1e6:.1f} us, adapter "
        f"{adapter * 1e6:.1f} us per call; the adapter adds {(adapter - plain) * 1e6:.1f} us"
    )


async def profile(send: Send, args: argparse.Namespace) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    await drive(send, args.requests, args.concurrency)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


class CannedTransport:
    """Answers every POST at once with one fixed completion: no sockets, no event loop I/O."""

    def __init__(self, body: bytes) -> None:
        self.response = HTTPResponse(200, {}, body)

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> HTTPResponse:
        return self.response

    async def aclose(self) -> None:
        return None


async def own_overhead(calls: int = 100_000) -> tuple[float, float]:
    """CPU per call of the adapter's own work vs the hand-written client's, without I/O.

    The network runs are noisy on a shared machine (a few tens of microseconds either
    way); this isolates what the adapter adds: building and encoding the payload,
    decoding the answer, building a `Generation`.
    """
    answer = {
        "model": MODEL,
        "choices": [
            {
                "message": {"role": "assistant", "content": "Lyon is in France."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25},
    }
    transport = CannedTransport(orjson.dumps(answer))
    adapter = AdapterClient(
        OpenAIAdapter("http://127.0.0.1:1/v1", model=MODEL, transport=transport)
    )

    async def plain() -> str:
        payload = {
            "model": MODEL,
            "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}],
            "temperature": 0.7,
            "max_tokens": 64,
        }
        response = await transport.post("", orjson.dumps(payload), {})
        text: str = orjson.loads(response.body)["choices"][0]["message"]["content"]
        return text

    results = []
    for send in (plain, adapter.send):
        started = time.process_time()
        for _ in range(calls):
            await send()
        results.append((time.process_time() - started) / calls)
    return results[0], results[1]


def report(
    args: argparse.Namespace, cpu: dict[str, list[float]], rate: dict[str, list[float]]
) -> None:
    print(
        f"\n{args.requests} requests x {args.rounds} rounds at {args.concurrency} in flight, "
        f"server latency {args.latency} s; medians:"
    )
    base = statistics.median(cpu["aiohttp"])
    for name in cpu:
        median = statistics.median(cpu[name])
        print(
            f"  {name:8} {median * 1e6:8.1f} us CPU/request  "
            f"{statistics.median(rate[name]):8.0f} req/s  {median / base:5.2f}x aiohttp"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000, help="requests per run")
    parser.add_argument("--concurrency", type=int, default=256, help="requests in flight")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--warmup", type=int, default=1000, help="requests per client first")
    parser.add_argument("--latency", type=float, default=0.0, help="mock server latency, s")
    parser.add_argument("--profile", action="store_true", help="cProfile one run of each")
    parser.add_argument(
        "--clients",
        type=lambda text: text.split(","),
        default=["aiohttp", "adapter", "fast", "httpx", "ollama", "anthropic"],
        help="comma-separated subset of aiohttp,adapter,fast,httpx,ollama,anthropic,batch "
        "(aiohttp: baseline)",
    )
    args = parser.parse_args()
    unknown = set(args.clients) - {
        "aiohttp",
        "adapter",
        "fast",
        "httpx",
        "ollama",
        "anthropic",
        "batch",
    }
    if unknown or "aiohttp" not in args.clients:
        parser.error(
            "--clients must include aiohttp and name only aiohttp, adapter, fast, httpx, "
            "ollama, anthropic, batch"
        )
    with MockServerProcess(latency=args.latency) as server:
        asyncio.run(bench(args, server.base_url))


if __name__ == "__main__":
    main()
