"""``python -m fanflow.testing``: the mock server in a process of its own.

The first stdout line is ``listening http://127.0.0.1:PORT/v1`` (flushed), which is how
`MockServerProcess` learns the port; the server then runs until SIGTERM or SIGINT and
exits 0. A separate process keeps the server's CPU out of a benchmarked client's.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import signal
from collections.abc import Callable, Sequence
from typing import Any, cast

from fanflow.testing._faults import Faults
from fanflow.testing._responses import Handler
from fanflow.testing._server import MockServer


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, then serve until a termination signal."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        handler = _import_handler(args.handler) if args.handler else None
        faults = Faults.from_json(args.faults) if args.faults else None
        server = MockServer(
            handler,
            latency=args.latency,
            host=args.host,
            port=args.port,
            models=args.model or ("mock-model",),
            faults=faults,
        )
    except (ImportError, AttributeError, TypeError, ValueError) as exc:
        parser.error(str(exc))
    loop = _new_event_loop(use_uvloop=not args.no_uvloop)
    try:
        loop.run_until_complete(_serve(server))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    return 0


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fanflow.testing",
        description="Run fanflow's mock OpenAI-compatible server on 127.0.0.1 until "
        "SIGTERM/SIGINT. The first stdout line is 'listening BASE_URL'.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="IPv4 loopback address to bind")
    parser.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds added before every answer"
    )
    parser.add_argument(
        "--handler",
        metavar="MODULE:FUNCTION",
        help="import string of a function(body: dict) -> str returning the assistant text",
    )
    parser.add_argument(
        "--model",
        action="append",
        metavar="ID",
        help="model id listed by GET /v1/models (repeatable; default mock-model)",
    )
    parser.add_argument(
        "--faults",
        metavar="JSON",
        help="fault injection as a JSON object of fanflow.testing.Faults fields, e.g. "
        '\'{"server_error": 0.1, "seed": 1}\' or \'{"script": ["rate_limit", null]}\'',
    )
    parser.add_argument(
        "--no-uvloop", action="store_true", help="use the stdlib event loop even if uvloop exists"
    )
    return parser


def _import_handler(spec: str) -> Handler:
    """Resolve ``"package.module:function"`` (the function part may be dotted)."""
    module_name, sep, attr_path = spec.partition(":")
    if not sep or not module_name or not attr_path:
        raise ValueError(f"--handler must look like 'module:function', got {spec!r}")
    target: Any = importlib.import_module(module_name)
    for attr in attr_path.split("."):
        target = getattr(target, attr)
    if not callable(target):
        raise TypeError(f"--handler {spec!r} is a {type(target).__name__}, not a function")
    return cast(Handler, target)


def _new_event_loop(*, use_uvloop: bool) -> asyncio.AbstractEventLoop:
    """uvloop when installed (it is not a dependency), else the stdlib loop."""
    factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
    if use_uvloop and importlib.util.find_spec("uvloop") is not None:
        factory = importlib.import_module("uvloop").new_event_loop
    loop = factory()
    asyncio.set_event_loop(loop)
    return loop


async def _serve(server: MockServer) -> None:
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"listening {server.base_url}", flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
