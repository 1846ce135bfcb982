"""A pipeline behind a web endpoint (aiohttp): `GET /qa?topic=...` runs the QA-from-topics
pipeline (cookbook/qa_from_topics.py) for that topic and answers with its rows as JSON.

    python cookbook/service.py --port 8080        # offline, against fanflow's mock server
    curl 'http://127.0.0.1:8080/qa?topic=sql'
    python cookbook/service.py --base-url http://127.0.0.1:8000/v1 --model m

- One adapter serves every request (made at startup, closed at shutdown), so requests that
  run at once share its connection pool and its limit (`max_connections`).
- Each request builds and runs its own small pipeline with `await pipeline.execute()`:
  `store=False` (a request keeps nothing on disk) and no progress display (no terminal).
- A client that disconnects cancels its request's handler (aiohttp's
  `handler_cancellation=True`), and so its pipeline: `execute()` cancels the pipeline's
  tasks and requests in flight before the cancellation reaches the handler, and sends
  nothing new; nothing of that request is left running.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import Any

import orjson
from _common import llm, parse_args
from aiohttp import web
from qa_from_topics import build_pipeline

from fanflow import LLMAdapter, PipelineBuilder, PipelineConfig

ADAPTER = web.AppKey("adapter", LLMAdapter)


class Runs:
    """What the service's pipelines did: running now, finished, cancelled by a disconnect."""

    def __init__(self) -> None:
        self.running: set[str] = set()
        self.finished = 0
        self.cancelled: list[str] = []
        self._changed = asyncio.Event()

    @contextmanager
    def track(self, topic: str) -> Iterator[None]:
        self.running.add(topic)
        try:
            yield
        except asyncio.CancelledError:
            self.cancelled.append(topic)
            raise
        finally:
            self.running.discard(topic)
            self.finished += 1
            self._changed.set()
            self._changed = asyncio.Event()

    async def wait_until(self, done: Callable[[Runs], bool]) -> None:
        """Wait (on events, no polling) until `done(self)` holds."""
        while not done(self):
            await self._changed.wait()


RUNS = web.AppKey("runs", Runs)


async def answer_topic(request: web.Request) -> web.Response:
    topic = request.query.get("topic", "").strip()
    if not topic:
        raise web.HTTPBadRequest(text="give a topic: GET /qa?topic=...")
    config = PipelineConfig(progress=False, store=False, concurrency=8)
    builder = PipelineBuilder(config, request.app[ADAPTER])
    pipeline = build_pipeline(builder, [topic]).build()
    with request.app[RUNS].track(topic):
        result = await pipeline.execute()
    body = {
        "rows": list(result.rows),
        "failures": [{"task": f.task_id, "error": str(f.error)} for f in result.failures],
    }
    return web.json_response(body, dumps=lambda value: orjson.dumps(value, default=str).decode())


def make_app(adapter: LLMAdapter) -> web.Application:
    app = web.Application()
    app[ADAPTER] = adapter
    app[RUNS] = Runs()
    app.router.add_get("/qa", answer_topic)
    return app


@asynccontextmanager
async def serve(app: web.Application, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve `app` on host:port (0: any free port) and yield its base URL."""
    # Without handler_cancellation, aiohttp (>= 3.8.6) lets a handler run on after its
    # client went away: the pipeline would go on sending requests nobody will read.
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        yield f"http://{bound_host}:{bound_port}"
    finally:
        await runner.cleanup()


async def main(base_url: str | None, model: str, port: int) -> None:
    async with llm(base_url, model) as adapter, serve(make_app(adapter), port=port) as url:
        print(f"serving on {url}/qa?topic=...  (Ctrl-C stops)")
        await asyncio.Event().wait()


if __name__ == "__main__":
    args: Any = parse_args(__doc__.splitlines()[0], port="8080")
    with suppress(KeyboardInterrupt):
        asyncio.run(main(args.base_url, args.model, int(args.port)))
