"""The API key stays out of traceback locals, error text and reprs (issue 12, D 19-21).

Error reporters such as Sentry capture every frame's locals by default, so a request that
fails (refused, timed out) must not leave the key in any frame's variables; a server that
echoes the key back must not get it into an exception; keys in custom headers and
passwords in `base_url` are secrets too.
"""

from __future__ import annotations

import base64
import traceback
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
from aiohttp import web

from fanflow import (
    ChatMessage,
    GenerationRequest,
    OpenAIAdapter,
    ProviderError,
    TransportError,
)
from fanflow.adapters import AiohttpTransport
from fanflow.testing import Faults, MockServer

from . import COMPLETION, closed_port, serve

CANARY = "sk-canary-7f3a9c1e5b2d4f608a1c3e5g7i9k"
REQUEST = GenerationRequest(messages=(ChatMessage("user", "hi"),), model="m")

AdapterMaker = Callable[[str, float], AbstractAsyncContextManager[OpenAIAdapter]]


@asynccontextmanager
async def fast(base_url: str, timeout: float) -> AsyncIterator[OpenAIAdapter]:
    async with OpenAIAdapter(base_url, api_key=CANARY, timeout=timeout) as adapter:
        yield adapter


@asynccontextmanager
async def over_aiohttp(base_url: str, timeout: float) -> AsyncIterator[OpenAIAdapter]:
    transport = AiohttpTransport(timeout=timeout)
    async with OpenAIAdapter(base_url, api_key=CANARY, transport=transport) as adapter:
        try:
            yield adapter
        finally:
            await transport.aclose()


@asynccontextmanager
async def over_httpx(base_url: str, timeout: float) -> AsyncIterator[OpenAIAdapter]:
    async with (
        httpx.AsyncClient(timeout=timeout) as client,
        OpenAIAdapter(base_url, api_key=CANARY, http_client=client) as adapter,
    ):
        yield adapter


each_transport = pytest.mark.parametrize(
    "connect", [fast, over_aiohttp, over_httpx], ids=["fast", "aiohttp", "httpx"]
)


def echoing(message: str) -> Faults:
    """A first answer of 401 whose error message is `message`, as OpenAI echoes the key.

    Built in a function so that no test frame holds the key in a local of its own.
    """
    return Faults(script=["unauthorized"], unauthorized_message=message)


def with_locals(exc: BaseException) -> str:
    """The traceback as an error reporter that captures locals would render it."""
    report = traceback.TracebackException(type(exc), exc, exc.__traceback__, capture_locals=True)
    return "".join(report.format())


@each_transport
async def test_a_refused_connection_leaves_no_key_in_traceback_locals(
    connect: AdapterMaker,
) -> None:
    async with connect(f"http://127.0.0.1:{closed_port()}/v1", 5.0) as adapter:
        with pytest.raises(TransportError) as caught:
            await adapter.generate(REQUEST)
    rendered = with_locals(caught.value)
    assert "headers = " in rendered or "head = " in rendered  # locals were captured
    assert CANARY not in rendered


@each_transport
async def test_a_timeout_leaves_no_key_in_traceback_locals(connect: AdapterMaker) -> None:
    async with (
        MockServer(faults=Faults(script=["hang"])) as server,
        connect(server.base_url, 0.3) as adapter,
    ):
        with pytest.raises(TransportError) as caught:
            await adapter.generate(REQUEST)
    rendered = with_locals(caught.value)
    assert "self = " in rendered  # locals were captured
    assert CANARY not in rendered


@each_transport
async def test_a_key_echoed_in_a_401_body_is_not_in_the_error(connect: AdapterMaker) -> None:
    async with (
        MockServer(faults=echoing(f"Incorrect API key provided: {CANARY}.")) as server,
        connect(server.base_url, 5.0) as adapter,
    ):
        with pytest.raises(ProviderError) as caught:
            await adapter.generate(REQUEST)
    error = caught.value
    assert error.status_code == 401
    assert "Incorrect API key provided: <redacted>" in str(error)
    assert CANARY not in str(error) + repr(error) + error.body + with_locals(error)


@pytest.mark.parametrize("name", ["api-key", "x-api-key", "X-Auth-Token", "Cookie", "x-secret"])
async def test_a_key_in_a_custom_header_is_hidden_from_reprs_and_echoes(name: str) -> None:
    async with MockServer(faults=echoing(f"bad key {CANARY}")) as server:
        adapter = OpenAIAdapter(server.base_url, model="m", headers={name: CANARY})
        async with adapter:
            with pytest.raises(ProviderError) as caught:
                await adapter.generate(REQUEST)
    assert CANARY not in repr(adapter) + repr(adapter._headers)
    assert CANARY not in str(caught.value) + with_locals(caught.value)


def test_a_password_in_base_url_is_hidden_from_repr_and_base_url() -> None:
    adapter = OpenAIAdapter(f"https://user:{CANARY}@llm.example/v1", model="m")
    assert CANARY not in repr(adapter)
    assert "user" not in repr(adapter)  # the user name may be the key, as some APIs use it
    assert adapter.base_url == "https://<redacted>@llm.example/v1"


@pytest.mark.parametrize("make", [over_aiohttp, over_httpx], ids=["aiohttp", "httpx"])
async def test_a_password_in_base_url_is_not_in_transport_errors(make: AdapterMaker) -> None:
    async with make(f"http://user:{CANARY}@127.0.0.1:{closed_port()}/v1", 5.0) as adapter:
        with pytest.raises(TransportError) as caught:
            await adapter.generate(REQUEST)
    assert CANARY not in str(caught.value) + repr(caught.value)
    assert CANARY not in with_locals(caught.value)


def test_an_error_in_the_constructor_leaves_no_key_in_its_locals() -> None:
    with pytest.raises(ValueError) as caught:
        OpenAIAdapter("ftp://nowhere/v1", api_key=CANARY, headers={"api-key": CANARY})
    assert CANARY not in with_locals(caught.value)


@pytest.mark.parametrize("api_key", [None, CANARY], ids=["url-only", "with-api-key"])
async def test_credentials_in_base_url_are_sent_as_basic_authorization(api_key: str | None) -> None:
    """Unless an api_key is given: then its Bearer token is the one sent."""
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.json_response(COMPLETION)

    async with serve(handler) as base:
        with_user = base.replace("http://", f"http://user:{CANARY}@")
        async with OpenAIAdapter(with_user, api_key=api_key, model="m") as adapter:
            await adapter.generate(REQUEST)
    basic = "Basic " + base64.b64encode(f"user:{CANARY}".encode()).decode()
    assert seen == [basic if api_key is None else f"Bearer {CANARY}"]


def test_placeholder_keys_are_not_secrets() -> None:
    """Local servers take keys such as "EMPTY"; redacting those would garble messages."""
    OpenAIAdapter("http://127.0.0.1:9/v1", api_key="EMPTY", model="m")
    assert str(ProviderError("the model EMPTY-1 is unknown")) == "the model EMPTY-1 is unknown"
