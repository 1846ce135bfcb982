"""FastTransport against the mock server and tiny scripted servers on 127.0.0.1.

The scripted servers (`raw_server`) speak HTTP by hand so each test controls the wire:
chunked bodies, `Connection: close`, hang-ups mid-answer, silence. Tests synchronise on
events, never on timed sleeps (a few `sleep(0)` let a task take exactly one step), and
each is bounded in time.
"""

from __future__ import annotations

import asyncio
import pickle
import re
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

import pytest

from fanflow import (
    ChatMessage,
    ConfigurationError,
    GenerationRequest,
    OpenAIAdapter,
    ProviderError,
    RateLimited,
    TransportError,
)
from fanflow.adapters import FastTransport, HTTPTransport
from fanflow.testing import MockServer

from . import closed_port

pytestmark = pytest.mark.timeout(10)

SECRET = "Bearer sk-never-print-me"
HELLO = GenerationRequest(messages=(ChatMessage("user", "Say hello."),))
Reader: TypeAlias = asyncio.StreamReader
Writer: TypeAlias = asyncio.StreamWriter


def ok(body: bytes = b"ok", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def read_request(reader: Reader) -> bytes | None:
    """One whole request (head and Content-Length body), or None at end of stream."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, OSError):
        return None
    match = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    return head + await reader.readexactly(int(match[1]) if match else 0)


def body_of(request: bytes) -> bytes:
    return request.partition(b"\r\n\r\n")[2]


@dataclass
class Server:
    """What a scripted server saw: connections accepted, requests, and EOFs."""

    url: str
    accepted: int = 0
    requests: list[bytes] = field(default_factory=list)
    eof: asyncio.Event = field(default_factory=asyncio.Event)
    got_request: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_eof(self, reader: Reader) -> None:
        """Block until the client closes this connection, then flag it."""
        try:
            while await reader.read(1024):
                pass
        except OSError:
            pass
        self.eof.set()


Script = Callable[[Server, Reader, Writer, int], Awaitable[None]]


@asynccontextmanager
async def raw_server(script: Script, tls: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    """Run `script(server, reader, writer, connection_number)` for each connection."""
    tasks: set[asyncio.Task[None]] = set()
    state = Server(url="")

    async def handle(reader: Reader, writer: Writer) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        state.accepted += 1
        try:
            await script(state, reader, writer, state.accepted)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)
    state.url = f"http{'s' if tls else ''}://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/chat/completions"
    try:
        yield state
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


async def echo_each(server: Server, reader: Reader, writer: Writer, _: int) -> None:
    while (request := await read_request(reader)) is not None:
        server.requests.append(request)
        writer.write(ok(body_of(request)))


async def never_answer(server: Server, reader: Reader, writer: Writer, _: int) -> None:
    request = await read_request(reader)
    assert request is not None
    server.requests.append(request)
    server.got_request.set()
    await server.wait_eof(reader)


@asynccontextmanager
async def fast(**kwargs: float) -> AsyncIterator[FastTransport]:
    transport = FastTransport(**kwargs)  # type: ignore[arg-type]
    try:
        yield transport
    finally:
        await transport.aclose()


# Construction ---------------------------------------------------------------------------


def test_satisfies_the_transport_protocol() -> None:
    assert isinstance(FastTransport(), HTTPTransport)
    assert "max_connections=1024" in repr(FastTransport())


@pytest.mark.parametrize(
    "kwargs", [{"max_connections": 0}, {"timeout": 0}, {"connect_timeout": -1.0}]
)
def test_rejects_bad_limits(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError, match="FastTransport"):
        FastTransport(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "headers",
    [{"X-Bad": "a\r\nInjected: 1"}, {"Bad:Name": "v"}, {"Content-Length": "3"}, {"": "v"}],
)
async def test_rejects_headers_that_would_corrupt_the_request(headers: dict[str, str]) -> None:
    async with fast() as transport:
        with pytest.raises(ConfigurationError, match="cannot send the headers"):
            await transport.post("http://127.0.0.1:1/v1", b"", headers)


async def test_rejects_header_values_beyond_latin_1() -> None:
    async with fast() as transport:
        with pytest.raises(ConfigurationError, match="Latin-1"):
            await transport.post("http://127.0.0.1:1/v1", b"", {"X-Mark": "\u2713"})


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/v1", "http:///v1", "http://127.0.0.1:99999/v1", "http://u:pw@h/v1"]
)
async def test_rejects_unusable_urls_without_echoing_them(url: str) -> None:
    async with fast() as transport:
        with pytest.raises(ConfigurationError, match="cannot POST to that URL") as info:
            await transport.post(url, b"", {})
    assert "pw" not in str(info.value)


# The happy paths --------------------------------------------------------------------------


async def test_round_trip_through_the_openai_adapter() -> None:
    async with MockServer(lambda body: "hello there", record=True) as server, fast() as transport:
        adapter = OpenAIAdapter(server.base_url, api_key="k", model="m", transport=transport)
        generation = await adapter.generate(HELLO)
        await adapter.aclose()  # the caller's transport stays open
        second = await adapter.generate(HELLO)
    assert generation.text == second.text == "hello there"
    assert generation.model == "m"
    assert generation.finish_reason == "stop"
    assert generation.usage.completion_tokens > 0
    assert server.request_log[0]["messages"] == [{"role": "user", "content": "Say hello."}]


async def test_sends_one_well_formed_request() -> None:
    async with raw_server(echo_each) as server, fast() as transport:
        response = await transport.post(server.url + "?x=1", b'{"a":1}', {"Authorization": SECRET})
    request = server.requests[0]
    port = server.url.split(":")[2].split("/")[0]
    assert request.startswith(b"POST /v1/chat/completions?x=1 HTTP/1.1\r\n")
    assert f"\r\nHost: 127.0.0.1:{port}\r\n".encode() in request
    assert f"\r\nAuthorization: {SECRET}\r\n".encode() in request
    assert b"\r\ncontent-type: application/json\r\n" in request
    assert b"\r\naccept-encoding: identity\r\n" in request
    assert request.endswith(b'\r\nContent-Length: 7\r\n\r\n{"a":1}')
    assert response.body == b'{"a":1}'


async def test_keep_alive_reuses_one_connection() -> None:
    async with raw_server(echo_each) as server, fast() as transport:
        bodies = [(await transport.post(server.url, b"%d" % i, {})).body for i in range(5)]
    assert bodies == [b"0", b"1", b"2", b"3", b"4"]
    assert server.accepted == 1


async def test_caps_connections_and_completes_every_request() -> None:
    in_flight = peak = 0
    all_busy = asyncio.Event()

    async def gated_echo(server: Server, reader: Reader, writer: Writer, _: int) -> None:
        nonlocal in_flight, peak
        while (request := await read_request(reader)) is not None:
            in_flight += 1
            peak = max(peak, in_flight)
            if in_flight == 4:
                all_busy.set()
            await all_busy.wait()  # hold the first four so the others must queue
            in_flight -= 1
            writer.write(ok(body_of(request)))

    async with raw_server(gated_echo) as server, fast(max_connections=4) as transport:
        sent = [b"%d" % i for i in range(40)]
        answers = await asyncio.gather(*(transport.post(server.url, b, {}) for b in sent))
    assert [a.body for a in answers] == sent
    assert server.accepted == peak == 4


async def test_chunked_answer_is_reassembled() -> None:
    async def chunked(server: Server, reader: Reader, writer: Writer, _: int) -> None:
        while await read_request(reader) is not None:
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
            await writer.drain()
            writer.write(b"6\r\n world\r\n0\r\n\r\n")

    async with raw_server(chunked) as server, fast() as transport:
        first = await transport.post(server.url, b"", {})
        second = await transport.post(server.url, b"", {})
    assert first.body == second.body == b"hello world"
    assert server.accepted == 1


async def test_connection_close_answer_then_the_next_request_works() -> None:
    async def close_each(server: Server, reader: Reader, writer: Writer, _: int) -> None:
        await read_request(reader)
        writer.write(ok(b"bye", b"Connection: close\r\n"))

    async with raw_server(close_each) as server, fast() as transport:
        first = await transport.post(server.url, b"", {})
        second = await transport.post(server.url, b"", {})
    assert first.body == second.body == b"bye"
    assert server.accepted == 2


async def test_body_delimited_by_the_end_of_the_connection() -> None:
    async def until_eof(server: Server, reader: Reader, writer: Writer, _: int) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it")

    async with raw_server(until_eof) as server, fast() as transport:
        response = await transport.post(server.url, b"", {})
    assert response.body == b"all of it"


async def test_status_and_headers_are_returned_for_the_adapter_to_map() -> None:
    async def busy(server: Server, reader: Reader, writer: Writer, _: int) -> None:
        while await read_request(reader) is not None:
            body = b'{"error": {"message": "Slow down."}}'
            writer.write(b"HTTP/1.1 429 Too Many\r\nRetry-After: 7\r\nX-A: 1\r\nX-A: 2\r\n")
            writer.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    async with raw_server(busy) as server, fast() as transport:
        response = await transport.post(server.url, b"", {})
        base_url = server.url.removesuffix("/chat/completions")
        adapter = OpenAIAdapter(base_url, model="m", transport=transport)
        with pytest.raises(RateLimited, match="Slow down") as info:
            await adapter.generate(HELLO)
    assert response.status == 429
    assert response.headers["retry-after"] == response.headers["Retry-After"] == "7"
    assert response.headers.get("RETRY-AFTER") == "7"
    assert response.headers.get("absent") is None and "x-a" in response.headers
    assert response.headers["x-a"] == "1, 2"
    assert dict(response.headers) == {"retry-after": "7", "x-a": "1, 2", "content-length": "36"}
    assert "retry-after" in repr(response.headers)
    assert info.value.retry_after == 7.0


async def test_server_error_status_becomes_a_provider_error() -> None:
    async def fail(server: Server, reader: Reader, writer: Writer, _: int) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 503 Unavailable\r\nContent-Length: 4\r\n\r\nbusy")

    async with raw_server(fail) as server, fast() as transport:
        base_url = server.url.removesuffix("/chat/completions")
        adapter = OpenAIAdapter(base_url, model="m", transport=transport)
        with pytest.raises(ProviderError, match="answered 503") as info:
            await adapter.generate(HELLO)
    assert info.value.status_code == 503


# Failures -----------------------------------------------------------------------------


async def test_connection_refused_is_a_transport_error_naming_the_url() -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1/chat/completions"
    async with fast() as transport:
        with pytest.raises(TransportError, match="Check that the server is running") as info:
            await transport.post(url, b"{}", {"Authorization": SECRET})
    exc = info.value
    assert url in str(exc) and exc.endpoint == url
    assert isinstance(exc.__cause__, ConnectionRefusedError)
    assert SECRET not in str(exc) + repr(exc)
    assert SECRET.encode() not in pickle.dumps(exc)


async def test_silent_server_times_out_and_the_connection_is_closed() -> None:
    async with raw_server(never_answer) as server, fast(timeout=0.2) as transport:
        with pytest.raises(TransportError, match=r"timed out .*timeout=0\.2 s") as info:
            await transport.post(server.url, b"", {"Authorization": SECRET})
        await server.eof.wait()  # closed, not pooled
    assert isinstance(info.value.__cause__, asyncio.TimeoutError)
    assert SECRET not in str(info.value)


async def test_half_an_answer_then_hang_up_is_a_transport_error() -> None:
    async def half(server: Server, reader: Reader, writer: Writer, _: int) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")

    async with raw_server(half) as server, fast() as transport:
        with pytest.raises(TransportError, match="got no response"):
            await transport.post(server.url, b"", {})
    assert server.accepted == 1  # a fresh connection that failed is not retried


async def test_malformed_answer_is_a_transport_error() -> None:
    async def garbage(server: Server, reader: Reader, writer: Writer, _: int) -> None:
        await read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
        await server.wait_eof(reader)

    async with raw_server(garbage) as server, fast() as transport:
        with pytest.raises(TransportError, match="malformed HTTP answer"):
            await transport.post(server.url, b"", {})
        await server.eof.wait()


async def test_kept_alive_connection_closed_by_the_server_is_retried_once() -> None:
    async def close_on_second(server: Server, reader: Reader, writer: Writer, n: int) -> None:
        await read_request(reader)
        writer.write(ok(b"first" if n == 1 else b"fresh"))
        if n == 1:  # the next request arrives, but the server is already closing
            assert await read_request(reader) is not None

    async with raw_server(close_on_second) as server, fast(max_connections=1) as transport:
        assert (await transport.post(server.url, b"", {})).body == b"first"
        assert (await transport.post(server.url, b"", {})).body == b"fresh"
    assert server.accepted == 2


async def test_idle_connection_closed_by_the_server_does_not_fail_the_next_request() -> None:
    closed = asyncio.Event()

    async def close_after_answer(server: Server, reader: Reader, writer: Writer, _: int) -> None:
        await read_request(reader)
        writer.write(ok())
        await writer.drain()
        writer.close()
        closed.set()

    async with raw_server(close_after_answer) as server, fast() as transport:
        await transport.post(server.url, b"", {})
        await closed.wait()
        assert (await transport.post(server.url, b"", {})).body == b"ok"
    assert server.accepted == 2


async def test_a_retried_request_is_retried_only_once() -> None:
    async def first_then_hang_up(server: Server, reader: Reader, writer: Writer, n: int) -> None:
        await read_request(reader)
        if n == 1:
            writer.write(ok())
            await read_request(reader)

    async with raw_server(first_then_hang_up) as server, fast() as transport:
        await transport.post(server.url, b"", {})
        with pytest.raises(TransportError, match="got no response"):
            await transport.post(server.url, b"", {})
    assert server.accepted == 2


async def test_https_round_trip(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    async with raw_server(echo_each, tls=server_tls) as server:
        async with fast() as untrusting:
            with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED"):
                await untrusting.post(server.url, b"", {})
        trusting = FastTransport(ssl_context=ssl.create_default_context(cafile=str(cert)))
        try:
            assert (await trusting.post(server.url, b"secret", {})).body == b"secret"
        finally:
            await trusting.aclose()


# Cancellation and closing -------------------------------------------------------------


async def test_cancelling_a_request_closes_its_connection_and_frees_the_slot() -> None:
    async def hang_first(server: Server, reader: Reader, writer: Writer, n: int) -> None:
        if n == 1:
            await never_answer(server, reader, writer, n)
        else:
            await echo_each(server, reader, writer, n)

    async with raw_server(hang_first) as server, fast(max_connections=1) as transport:
        stuck = asyncio.ensure_future(transport.post(server.url, b"", {}))
        await server.got_request.wait()
        queued = asyncio.ensure_future(transport.post(server.url, b"queued", {}))
        await asyncio.sleep(0)  # one step: it finds no free slot and queues
        stuck.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stuck
        await server.eof.wait()  # closed, not pooled
        assert (await queued).body == b"queued"  # the freed slot went to the waiter
        assert (await transport.post(server.url, b"next", {})).body == b"next"
    assert server.accepted == 2


async def test_cancelled_or_timed_out_waiters_leave_the_queue_clean() -> None:
    release = asyncio.Event()

    async def hold_first(server: Server, reader: Reader, writer: Writer, _: int) -> None:
        while (request := await read_request(reader)) is not None:
            server.got_request.set()
            await release.wait()
            writer.write(ok(body_of(request)))

    async with raw_server(hold_first) as server, fast(max_connections=1) as transport:
        first = asyncio.ensure_future(transport.post(server.url, b"1", {}))
        await server.got_request.wait()
        queued = asyncio.ensure_future(transport.post(server.url, b"2", {}))
        await asyncio.sleep(0)  # one step: it finds no free slot and queues
        assert transport._pool is not None and len(transport._pool.waiters) == 1
        queued.cancel()
        release.set()
        assert (await first).body == b"1"
        assert (await transport.post(server.url, b"3", {})).body == b"3"
        with pytest.raises(asyncio.CancelledError):
            await queued
    assert server.accepted == 1


async def test_waiting_for_a_slot_counts_against_the_timeout() -> None:
    async with raw_server(never_answer) as server, fast(max_connections=1) as transport:
        holder = asyncio.ensure_future(transport.post(server.url, b"", {}))
        await server.got_request.wait()
        assert transport._pool is not None
        transport._pool.timeout = 0.2  # only for the request that will queue
        with pytest.raises(TransportError, match="timed out"):
            await transport.post(server.url, b"", {})
        assert not transport._pool.waiters or transport._pool.waiters[0][1].done()
        holder.cancel()
        with pytest.raises(asyncio.CancelledError):
            await holder
    assert server.accepted == 1


async def test_a_connection_handed_to_a_just_cancelled_waiter_goes_back_to_the_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = asyncio.Event()

    async def hold_first(server: Server, reader: Reader, writer: Writer, _: int) -> None:
        while (request := await read_request(reader)) is not None:
            server.got_request.set()
            await release.wait()
            writer.write(ok(body_of(request)))

    async with raw_server(hold_first) as server, fast(max_connections=1) as transport:
        first = asyncio.ensure_future(transport.post(server.url, b"1", {}))
        await server.got_request.wait()
        queued = asyncio.ensure_future(transport.post(server.url, b"2", {}))
        await asyncio.sleep(0)
        pool = transport._pool
        assert pool is not None
        hand_over = pool._release

        def hand_over_then_cancel(conn: object) -> None:
            hand_over(conn)  # type: ignore[arg-type]
            queued.cancel()  # after the hand-over, before the waiter resumes
            monkeypatch.setattr(pool, "_release", hand_over)

        monkeypatch.setattr(pool, "_release", hand_over_then_cancel)
        release.set()
        assert (await first).body == b"1"
        with pytest.raises(asyncio.CancelledError):
            await queued
        assert (await transport.post(server.url, b"3", {})).body == b"3"
    assert server.accepted == 1


async def test_a_full_pool_closes_an_idle_connection_to_another_host() -> None:
    async def answer_then_wait(server: Server, reader: Reader, writer: Writer, _: int) -> None:
        await read_request(reader)
        writer.write(ok())
        await server.wait_eof(reader)

    async with (
        raw_server(answer_then_wait) as first,
        raw_server(echo_each) as second,
        fast(max_connections=1) as transport,
    ):
        await transport.post(first.url, b"", {})
        assert (await transport.post(second.url, b"2", {})).body == b"2"
        await first.eof.wait()


async def test_a_waiter_for_another_host_gets_the_slot() -> None:
    release = asyncio.Event()

    async def answer_when_released(server: Server, reader: Reader, writer: Writer, _: int) -> None:
        await read_request(reader)
        server.got_request.set()
        await release.wait()
        writer.write(ok(b"1"))
        await server.wait_eof(reader)

    async with (
        raw_server(answer_when_released) as held,
        raw_server(echo_each) as other,
        fast(max_connections=1) as transport,
    ):
        first = asyncio.ensure_future(transport.post(held.url, b"", {}))
        await held.got_request.wait()
        queued = asyncio.ensure_future(transport.post(other.url, b"2", {}))
        await asyncio.sleep(0)  # one step: it finds no free slot and queues
        release.set()
        assert (await first).body == b"1"
        assert (await queued).body == b"2"
        await held.eof.wait()  # its connection was closed to free the slot


async def test_aclose_closes_connections_and_a_later_request_reconnects() -> None:
    async def answer_then_wait(server: Server, reader: Reader, writer: Writer, _: int) -> None:
        await read_request(reader)
        writer.write(ok())
        await server.wait_eof(reader)

    async with raw_server(answer_then_wait) as server:
        transport = FastTransport()
        await transport.post(server.url, b"", {})
        await transport.aclose()
        await server.eof.wait()
        response = await transport.post(server.url, b"", {})
        assert response.status == 200
        assert server.accepted == 2
        await transport.aclose()
        await transport.aclose()  # idempotent


async def test_aclose_fails_requests_in_flight_and_queued() -> None:
    async with raw_server(never_answer) as server:
        transport = FastTransport(max_connections=1)
        pending = asyncio.ensure_future(transport.post(server.url, b"", {}))
        await server.got_request.wait()
        queued = asyncio.ensure_future(transport.post(server.url, b"", {}))
        await asyncio.sleep(0)  # one step: it finds no free slot and queues
        await transport.aclose()
        for request in (pending, queued):
            with pytest.raises(TransportError, match="got no response"):
                await request
        assert server.accepted == 1


async def test_interim_1xx_answer_is_skipped() -> None:
    async def continue_first(server: Server, reader: Reader, writer: Writer, _: int) -> None:
        while await read_request(reader) is not None:
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"final"))

    async with raw_server(continue_first) as server, fast() as transport:
        for _ in range(2):
            response = await transport.post(server.url, b"", {})
            assert (response.status, response.body) == (200, b"final")
    assert server.accepted == 1


async def test_an_unsolicited_answer_closes_the_connection() -> None:
    async def answer_twice(server: Server, reader: Reader, writer: Writer, _: int) -> None:
        while (request := await read_request(reader)) is not None:
            writer.write(ok(body_of(request)) + ok(b"unasked"))

    async with raw_server(answer_twice) as server, fast() as transport:
        assert (await transport.post(server.url, b"1", {})).body == b"1"
        assert (await transport.post(server.url, b"2", {})).body == b"2"
    assert server.accepted == 2


# Abandoning the first loop's connections makes them warn when collected, as with aiohttp:
# the warning is the user's cue to `aclose()`.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_a_new_event_loop_gets_a_fresh_pool() -> None:
    transport = FastTransport()

    async def one_round() -> int:
        async with MockServer() as server:
            response = await transport.post(f"{server.base_url}/chat/completions", b"{}", {})
        return response.status

    assert asyncio.run(one_round()) == 400  # the mock server wants messages
    first = transport._pool
    assert asyncio.run(one_round()) == 400
    assert transport._pool is not first
    asyncio.run(transport.aclose())
