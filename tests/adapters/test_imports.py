"""What importing and using the adapters loads: no HTTP library that is not used.

Each check runs in a fresh interpreter, since this one has imported everything already.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

HEAVY = ("aiohttp", "httpx", "tenacity", "httptools")

SERVER = """
import asyncio, sys
import orjson

COMPLETION = orjson.dumps(
    {"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}], "model": "m"}
)

async def answer(reader, writer):
    await reader.readuntil(b"\\r\\n\\r\\n")  # the mock's body is small: read with the head
    writer.write(
        b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\n"
        b"Content-Length: %d\\r\\n\\r\\n%s" % (len(COMPLETION), COMPLETION)
    )
    await writer.drain()
    writer.close()

def loaded():
    return sorted(name for name in HEAVY if name in sys.modules)
"""


def run(code: str) -> str:
    """Run `code` in a new interpreter (after the helpers above); its stdout."""
    script = f"HEAVY = {HEAVY!r}\n{SERVER}\n{textwrap.dedent(code)}"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_fanflow_loads_no_http_library_or_tenacity() -> None:
    assert run("import fanflow.adapters; print(loaded())") == "[]"


def test_the_endpoint_pool_is_imported_when_first_asked_for() -> None:
    out = run(
        """
        import fanflow
        print("fanflow.adapters._pool" in sys.modules)
        from fanflow import EndpointPool
        print("fanflow.adapters._pool" in sys.modules, EndpointPool.__module__)
        print(fanflow.adapters.EndpointPool is EndpointPool is fanflow.EndpointPool)
        """
    )
    assert out.splitlines() == ["False", "True fanflow", "True"]


def test_a_request_over_the_default_transport_loads_neither_aiohttp_nor_httpx() -> None:
    out = run(
        """
        from fanflow import ChatMessage, GenerationRequest, OpenAIAdapter

        async def main():
            server = await asyncio.start_server(answer, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            async with OpenAIAdapter(f"http://127.0.0.1:{port}/v1", model="m") as adapter:
                request = GenerationRequest(messages=(ChatMessage("user", "hi"),))
                print((await adapter.generate(request)).text, loaded())
            server.close()

        asyncio.run(main())
        """
    )
    assert out == "hi ['httptools']"


def test_transports_and_retries_import_their_library_when_first_used() -> None:
    out = run(
        """
        import fanflow.adapters as adapters
        from fanflow import ChatMessage, GenerationRequest, MockAdapter, TransportError

        adapters.AiohttpTransport()
        print(loaded())
        adapters.HttpxTransport
        print(loaded())
        retrying = adapters.RetryingAdapter(MockAdapter(["ok"]))
        request = GenerationRequest(messages=(ChatMessage("user", "hi"),))
        asyncio.run(retrying.generate(request))
        print(loaded())
        flaky = MockAdapter([TransportError("reset"), "ok"])
        retrying = adapters.RetryingAdapter(flaky, sleep=lambda seconds: asyncio.sleep(0))
        asyncio.run(retrying.generate(request))
        print(loaded())
        """
    )
    assert out.splitlines() == [
        "['aiohttp']",
        "['aiohttp', 'httpx']",
        "['aiohttp', 'httpx']",  # a first try that succeeds needs no tenacity
        "['aiohttp', 'httpx', 'tenacity']",
    ]


def test_every_public_name_is_importable_and_listed() -> None:
    import fanflow.adapters as adapters

    assert adapters.__all__ == sorted(adapters.__all__)
    assert all(getattr(adapters, name) is not None for name in adapters.__all__)
    assert set(adapters.__all__) <= set(dir(adapters))
    assert adapters.AiohttpTransport.__name__ == "AiohttpTransport"
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        adapters.Nope  # type: ignore[attr-defined]  # noqa: B018


def test_importing_fanflow_loads_no_feature_a_run_may_not_use() -> None:
    # The run report, the Ray driver, the pipeline-file modules and the store's writer
    # load when first used;
    # pydantic's plugins load when a first model schema is built (all are deferred).
    features = ("fanflow.report", "fanflow.engine.pipeline._ray_run",
                "fanflow.engine.pipeline._file_load", "pydantic.plugin._loader",
                "fanflow.store._writer", "fanflow.store._logs",
                "matplotlib", "ray", "opentelemetry", "datasets")  # fmt: skip
    out = run(f"import fanflow\nprint(sorted(n for n in {features!r} if n in sys.modules))")
    assert out == "[]"
