"""Fault injection in the mock server: each fault does on the wire what it says."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import openai
import orjson
import pytest
from openai.types.chat import ChatCompletion

from fanflow.testing import Arrival, Faults, MockServer
from tests.testing._wire import (
    CHAT,
    STEP,
    assert_closed_by_server,
    close_raw,
    open_raw,
    post_chat,
    raw_request,
    read_head,
    until,
)

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=STEP) as http:
        yield http


def one(fault: str, **options: Any) -> Faults:
    """Faults that hit the first chat request with `fault`, then answer normally."""
    return Faults(script=[fault], **options)


# -- error answers ---------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_error_is_a_5xx_with_an_openai_body(
    client: httpx.AsyncClient, status: int
) -> None:
    async with MockServer(faults=one("server_error", server_error_statuses=[status])) as server:
        response = await post_chat(client, server)
        follow_up = await post_chat(client, server)
        assert server.completions_total == 1
        assert server.arrivals == [
            Arrival(server.arrivals[0].time, "server_error", status),
            Arrival(server.arrivals[1].time, None, 200),
        ]
        assert server.faults_applied == Counter(server_error=1)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["type"] == "server_error" and error["message"]
    assert set(error) == {"message", "type", "param", "code"}
    assert follow_up.status_code == 200


async def test_rate_limit_is_a_429_with_retry_after_seconds(client: httpx.AsyncClient) -> None:
    async with MockServer(faults=Faults(rate_limit=1.0)) as server:
        response = await post_chat(client, server)
        server.faults = Faults(rate_limit=1.0, rate_limit_retry_after=0.25)
        fractional = await post_chat(client, server)
        assert [a.retry_after for a in server.arrivals] == [1.0, 0.25]
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert fractional.headers["retry-after"] == "0.25"
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("requests", "rate_limit_exceeded")


async def test_rate_limit_can_send_an_http_date(client: httpx.AsyncClient) -> None:
    faults = Faults(rate_limit=1.0, rate_limit_retry_after=2, retry_after_http_date=True)
    async with MockServer(faults=faults) as server:
        response = await post_chat(client, server)
        asked = server.arrivals[0].retry_after
    received = time.time()
    assert response.status_code == 429
    when = parsedate_to_datetime(response.headers["retry-after"])
    assert when.tzinfo is not None and when.timestamp() == int(when.timestamp())
    assert 2.0 - 0.5 <= when.timestamp() - received <= 3.0  # rounded up to the whole second
    assert asked is not None and 2.0 <= asked < 3.0


async def test_rate_limit_and_unauthorized_skip_the_latency(client: httpx.AsyncClient) -> None:
    faults = Faults(script=["rate_limit", "unauthorized"])
    async with MockServer(latency=60.0, faults=faults) as server:
        statuses = [(await post_chat(client, server)).status_code for _ in range(2)]
    assert statuses == [429, 401]


async def test_unauthorized_is_a_401_invalid_api_key(client: httpx.AsyncClient) -> None:
    async with MockServer(faults=one("unauthorized")) as server:
        response = await post_chat(client, server)
    assert response.status_code == 401
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "invalid_api_key")


async def test_openai_sdk_raises_its_typed_errors() -> None:
    faults = Faults(script=["server_error", "rate_limit", "unauthorized", None])
    expected = [openai.InternalServerError, openai.RateLimitError, openai.AuthenticationError]
    async with MockServer(faults=faults) as server:
        sdk = openai.AsyncOpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        async with sdk:
            for error in expected:
                with pytest.raises(error):
                    await asyncio.wait_for(sdk.chat.completions.create(**CHAT), STEP)
            completion = await asyncio.wait_for(sdk.chat.completions.create(**CHAT), STEP)
    assert completion.choices[0].message.content == "mock answer: hello there"


async def test_malformed_is_a_200_whose_body_is_not_json(client: httpx.AsyncClient) -> None:
    async with MockServer(faults=one("malformed")) as server:
        response = await post_chat(client, server)
        assert server.arrivals[0].status == 200
        assert server.completions_total == 0
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(response.content) > 0
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(response.content)


# -- connection faults -----------------------------------------------------------------


async def test_drop_closes_the_connection_without_an_answer(client: httpx.AsyncClient) -> None:
    async with MockServer(faults=Faults(script=["drop", "drop"])) as server:
        reader, writer = await open_raw(server)
        writer.write(raw_request())
        await assert_closed_by_server(reader)  # not a single byte of answer
        await close_raw(writer)
        with pytest.raises(httpx.RemoteProtocolError):
            await post_chat(client, server)
        assert (await post_chat(client, server)).status_code == 200
        assert [(a.fault, a.status) for a in server.arrivals] == [
            ("drop", None),
            ("drop", None),
            (None, 200),
        ]


async def test_hang_never_answers_so_the_client_times_out() -> None:
    async with MockServer(faults=one("hang")) as server:
        async with httpx.AsyncClient(timeout=0.2) as impatient:
            started = time.monotonic()
            with pytest.raises(httpx.ReadTimeout):
                await post_chat(impatient, server)
            assert time.monotonic() - started >= 0.19
        await until(lambda: not server._connections)  # the client left; so did the server
        assert [(a.fault, a.status) for a in server.arrivals] == [("hang", None)]


async def test_stop_closes_a_hanging_connection_and_refuses_new_ones() -> None:
    server = MockServer(faults=one("hang"))
    await server.start()
    port = server.port
    reader, writer = await open_raw(server)
    writer.write(raw_request())
    await until(lambda: len(server.arrivals) == 1)
    await asyncio.wait_for(server.stop(), 1.0)
    await assert_closed_by_server(reader)
    await close_raw(writer)
    with pytest.raises(OSError):
        await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), STEP)


def _sync_answer(body: dict[str, Any]) -> str:
    return "slow but complete"


async def _async_answer(body: dict[str, Any]) -> str:
    await asyncio.sleep(0)
    return "slow but complete"


@pytest.mark.parametrize("handler", [_sync_answer, _async_answer], ids=["sync", "async"])
async def test_slow_body_sends_half_then_the_rest_after_the_delay(handler: Any) -> None:
    delay = 0.3
    async with MockServer(handler, faults=one("slow_body", slow_body_delay=delay)) as server:
        reader, writer = await open_raw(server)
        writer.write(raw_request())
        status, headers = await read_head(reader)
        head_at = time.monotonic()
        length = int(headers["content-length"])
        first = await asyncio.wait_for(reader.read(length), STEP)
        assert 0 < len(first) <= length // 2 + 1
        rest = await asyncio.wait_for(reader.readexactly(length - len(first)), STEP)
        assert time.monotonic() - head_at >= delay - 0.02
        completion = ChatCompletion.model_validate_json(first + rest)
        writer.write(raw_request())  # the connection is still good for the next request
        assert (await read_head(reader))[0] == 200
        await close_raw(writer)
        assert server.arrivals[0].status == 200 and server.arrivals[0].fault == "slow_body"
    assert status == 200
    assert completion.choices[0].message.content == "slow but complete"


async def test_stop_during_a_slow_body_drops_the_rest() -> None:
    server = MockServer(faults=one("slow_body", slow_body_delay=60.0))
    await server.start()
    reader, writer = await open_raw(server)
    writer.write(raw_request())
    await read_head(reader)
    await asyncio.wait_for(server.stop(), 1.0)
    with pytest.raises((asyncio.IncompleteReadError, ConnectionResetError)):
        await asyncio.wait_for(reader.readexactly(10**6), STEP)
    await close_raw(writer)


# -- which requests get faults ---------------------------------------------------------


async def test_only_chat_completions_get_faults(client: httpx.AsyncClient) -> None:
    async with MockServer(faults=Faults(unauthorized=1.0)) as server:
        models = await client.get(f"{server.base_url}/models")
        unknown = await client.post(f"{server.base_url}/embeddings", json={})
        wrong_method = await client.get(f"{server.base_url}/chat/completions")
        chat = await post_chat(client, server)
        assert len(server.arrivals) == 1
    assert (models.status_code, unknown.status_code, wrong_method.status_code) == (200, 404, 405)
    assert chat.status_code == 401


async def test_script_applies_exactly_in_order_then_normal_answers(
    client: httpx.AsyncClient,
) -> None:
    script = ["server_error", "server_error", None, "unauthorized", "rate_limit", "malformed"]
    faults = Faults(script=script, server_error_statuses=[500])
    async with MockServer(faults=faults) as server:
        statuses = [(await post_chat(client, server)).status_code for _ in range(8)]
        assert [a.fault for a in server.arrivals] == [*script, None, None]
        assert [a.status for a in server.arrivals] == statuses
        assert server.faults_applied == Counter(
            server_error=2, unauthorized=1, rate_limit=1, malformed=1
        )
    assert statuses == [500, 500, 200, 401, 429, 200, 200, 200]


async def test_faults_can_be_changed_while_running(client: httpx.AsyncClient) -> None:
    async with MockServer(faults=Faults(server_error=1.0)) as server:
        first = await post_chat(client, server)
        server.faults = None
        second = await post_chat(client, server)
        server.faults = Faults(script=["unauthorized"])  # a new script starts from its top
        third, fourth = await post_chat(client, server), await post_chat(client, server)
        with pytest.raises(TypeError, match="Faults"):
            server.faults = {"drop": 1.0}  # type: ignore[assignment]
    assert first.status_code >= 500
    assert [r.status_code for r in (second, third, fourth)] == [200, 401, 200]


async def _statuses_with_seed(client: httpx.AsyncClient, seed: int) -> list[tuple[Any, ...]]:
    faults = Faults(server_error=0.2, rate_limit=0.2, unauthorized=0.1, malformed=0.1, seed=seed)
    async with MockServer(faults=faults) as server:
        for _ in range(60):
            await post_chat(client, server)
        return [(a.fault, a.status) for a in server.arrivals]


async def test_probabilities_are_deterministic_given_the_seed(client: httpx.AsyncClient) -> None:
    first = await _statuses_with_seed(client, seed=7)
    again = await _statuses_with_seed(client, seed=7)
    other = await _statuses_with_seed(client, seed=8)
    assert first == again
    assert first != other
    faults = Counter(fault for fault, _ in first)
    assert set(faults) == {None, "server_error", "rate_limit", "unauthorized", "malformed"}
    assert {status for fault, status in first if fault == "server_error"} <= {500, 502, 503}
