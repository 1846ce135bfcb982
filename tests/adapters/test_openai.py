from __future__ import annotations

import asyncio
import logging
import pickle
import traceback
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import httpx
import orjson
import pytest
import respx
from aiohttp import web

from fanflow import (
    ChatMessage,
    ConfigurationError,
    GenerationRequest,
    OpenAIAdapter,
    ProviderError,
    RateLimited,
    ToolCall,
    TransportError,
    Usage,
)
from fanflow.adapters import AiohttpTransport, FastTransport, HTTPResponse

from . import COMPLETION, closed_port, serve

BASE = "http://127.0.0.1:8999/v1"
URL = f"{BASE}/chat/completions"
KEY = "sk-test-0123456789-SECRET-abcdef"

HELLO = (ChatMessage("system", "Be brief."), ChatMessage("user", "Say hello."))


def request(**kwargs: Any) -> GenerationRequest:
    return GenerationRequest(messages=HELLO, **kwargs)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


@pytest.fixture
async def adapter(client: httpx.AsyncClient) -> AsyncIterator[OpenAIAdapter]:
    async with OpenAIAdapter(
        BASE + "/", api_key=KEY, model="default-model", http_client=client
    ) as a:
        yield a


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


def sent(route: respx.Route) -> dict[str, Any]:
    payload: dict[str, Any] = orjson.loads(route.calls.last.request.content)
    return payload


# --- payload ----------------------------------------------------------------------------


async def test_payload_has_messages_and_default_model_and_nothing_unset(
    adapter: OpenAIAdapter, api: respx.MockRouter
) -> None:
    route = api.post(URL).respond(200, json=COMPLETION)
    await adapter.generate(request())
    assert sent(route) == {
        "model": "default-model",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say hello."},
        ],
    }


async def test_request_model_overrides_default(
    adapter: OpenAIAdapter, api: respx.MockRouter
) -> None:
    route = api.post(URL).respond(200, json=COMPLETION)
    await adapter.generate(request(model="other-model"))
    assert sent(route)["model"] == "other-model"


async def test_temperature_and_max_tokens_sent_when_set(
    adapter: OpenAIAdapter, api: respx.MockRouter
) -> None:
    route = api.post(URL).respond(200, json=COMPLETION)
    await adapter.generate(request(temperature=0.0, max_tokens=12))
    payload = sent(route)
    assert payload["temperature"] == 0.0
    assert payload["max_tokens"] == 12


async def test_json_schema_becomes_response_format(
    adapter: OpenAIAdapter, api: respx.MockRouter
) -> None:
    schema = {"title": "City Info", "type": "object", "properties": {"name": {"type": "string"}}}
    route = api.post(URL).respond(200, json=COMPLETION)
    await adapter.generate(request(json_schema=schema))
    assert sent(route)["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "City_Info", "schema": schema, "strict": False},
    }


async def test_json_schema_without_title_is_named_output(
    adapter: OpenAIAdapter, api: respx.MockRouter
) -> None:
    route = api.post(URL).respond(200, json=COMPLETION)
    await adapter.generate(request(json_schema={"type": "object"}))
    assert sent(route)["response_format"]["json_schema"]["name"] == "output"


async def test_tools_and_extra_are_passed_through(
    adapter: OpenAIAdapter, api: respx.MockRouter
) -> None:
    tool = {
        "type": "function",
        "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
    }
    route = api.post(URL).respond(200, json=COMPLETION)
    await adapter.generate(request(tools=(tool,), extra={"top_p": 0.5, "seed": 3, "stop": ["\n"]}))
    payload = sent(route)
    assert payload["tools"] == [tool]
    assert (payload["top_p"], payload["seed"], payload["stop"]) == (0.5, 3, ["\n"])


async def test_headers_carry_key_json_and_user_headers(
    client: httpx.AsyncClient, api: respx.MockRouter
) -> None:
    route = api.post(URL).respond(200, json=COMPLETION)
    adapter = OpenAIAdapter(
        BASE, api_key=KEY, model="m", http_client=client, headers={"X-Team": "data"}
    )
    await adapter.generate(request())
    headers = route.calls.last.request.headers
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers["content-type"] == "application/json"
    assert headers["x-team"] == "data"


async def test_no_api_key_sends_no_authorization(
    client: httpx.AsyncClient, api: respx.MockRouter
) -> None:
    route = api.post(URL).respond(200, json=COMPLETION)
    await OpenAIAdapter(BASE, model="m", http_client=client).generate(request())
    assert "authorization" not in route.calls.last.request.headers


async def test_unencodable_extra_is_a_configuration_error(
    adapter: OpenAIAdapter, api: respx.MockRouter
) -> None:
    route = api.post(URL).respond(200, json=COMPLETION)
    with pytest.raises(ConfigurationError, match="JSON types"):
        await adapter.generate(request(extra={"seed": object()}))
    assert not route.called


async def test_no_model_anywhere_is_a_configuration_error(client: httpx.AsyncClient) -> None:
    adapter = OpenAIAdapter(BASE, http_client=client)
    with pytest.raises(ConfigurationError, match="pass model= to OpenAIAdapter"):
        await adapter.generate(request())


def test_bad_base_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="http:// or https://"):
        OpenAIAdapter("127.0.0.1:8000/v1")


def test_transport_and_http_client_together_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="pass one of them"):
        OpenAIAdapter(BASE, transport=AiohttpTransport(), http_client=httpx.AsyncClient())


# --- parsing ----------------------------------------------------------------------------


async def test_parses_text_usage_finish_reason_model_and_endpoint(
    adapter: OpenAIAdapter, api: respx.MockRouter
) -> None:
    api.post(URL).respond(200, json=COMPLETION)
    generation = await adapter.generate(request())
    assert generation.text == "hello there"
    assert generation.finish_reason == "stop"
    assert generation.usage == Usage(prompt_tokens=7, completion_tokens=2)
    assert generation.model == "served-model"
    assert generation.endpoint == BASE
    assert generation.tool_calls == ()
    assert 0.0 < generation.latency_s < 5.0


async def test_parses_tool_calls_with_null_content(
    adapter: OpenAIAdapter, api: respx.MockRouter
) -> None:
    body = {
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "lookup", "arguments": '{"q": "x"}'},
                        },
                        {"type": "function", "function": {"name": "other", "arguments": {"a": 1}}},
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ]
    }
    api.post(URL).respond(200, json=body)
    generation = await adapter.generate(request())
    assert generation.text == ""
    assert generation.finish_reason == "tool_calls"
    assert generation.tool_calls == (
        ToolCall(name="lookup", arguments='{"q": "x"}', id="call_1"),
        ToolCall(name="other", arguments='{"a":1}', id=None),
    )
    # No usage in the body: estimated from the text, here the tool call arguments.
    assert generation.usage.estimated
    assert generation.usage.completion_tokens == 5  # 17 characters, about 4 a token
    assert generation.model == "default-model"


# --- status errors ----------------------------------------------------------------------


async def test_429_with_seconds_retry_after(adapter: OpenAIAdapter, api: respx.MockRouter) -> None:
    api.post(URL).respond(
        429, headers={"Retry-After": "7"}, json={"error": {"message": "Slow down."}}
    )
    with pytest.raises(RateLimited) as info:
        await adapter.generate(request())
    assert info.value.retry_after == 7.0
    assert info.value.endpoint == BASE
    assert "Slow down." in str(info.value)
    assert "Retry after 7 s" in str(info.value)


@pytest.mark.parametrize("usegmt", [True, False], ids=["GMT", "-0000"])
async def test_429_with_http_date_retry_after(
    adapter: OpenAIAdapter, api: respx.MockRouter, usegmt: bool
) -> None:
    when = datetime.now(timezone.utc) + timedelta(seconds=30)
    if not usegmt:
        when = when.replace(tzinfo=None)  # formats as "... -0000", which parses naive
    api.post(URL).respond(429, headers={"Retry-After": format_datetime(when, usegmt=usegmt)})
    with pytest.raises(RateLimited) as info:
        await adapter.generate(request())
    assert info.value.retry_after is not None
    assert 25.0 <= info.value.retry_after <= 30.0


async def test_429_prefers_retry_after_ms(adapter: OpenAIAdapter, api: respx.MockRouter) -> None:
    api.post(URL).respond(429, headers={"retry-after-ms": "1500", "Retry-After": "2"})
    with pytest.raises(RateLimited) as info:
        await adapter.generate(request())
    assert info.value.retry_after == 1.5


@pytest.mark.parametrize("header", [None, "soon", "inf"])
async def test_429_without_usable_retry_after(
    adapter: OpenAIAdapter, api: respx.MockRouter, header: str | None
) -> None:
    headers = {} if header is None else {"Retry-After": header}
    api.post(URL).respond(429, headers=headers, text="busy")
    with pytest.raises(RateLimited) as info:
        await adapter.generate(request())
    assert info.value.retry_after is None
    assert "back off and retry" in str(info.value)


async def test_500_is_provider_error_with_status_and_message(
    adapter: OpenAIAdapter, api: respx.MockRouter
) -> None:
    body = {"error": {"message": "CUDA out of memory", "type": "server_error"}}
    api.post(URL).respond(500, json=body)
    with pytest.raises(ProviderError) as info:
        await adapter.generate(request())
    exc = info.value
    assert not isinstance(exc, RateLimited)
    assert exc.status_code == 500
    assert orjson.loads(exc.body) == body
    assert str(exc).startswith(f"POST {URL} answered 500: CUDA out of memory.")
    assert "retry later" in str(exc)


async def test_401_names_provider_message_and_fix(
    adapter: OpenAIAdapter, api: respx.MockRouter
) -> None:
    api.post(URL).respond(401, json={"error": {"message": "Incorrect API key provided."}})
    with pytest.raises(ProviderError) as info:
        await adapter.generate(request())
    assert info.value.status_code == 401
    assert str(info.value) == (
        f"POST {URL} answered 401: Incorrect API key provided. "
        "Check the api_key given to OpenAIAdapter."
    )


async def test_vllm_style_error_message_is_found(
    adapter: OpenAIAdapter, api: respx.MockRouter
) -> None:
    api.post(URL).respond(
        400, json={"object": "error", "message": "max_tokens is too large", "code": 400}
    )
    with pytest.raises(ProviderError, match="answered 400: max_tokens is too large"):
        await adapter.generate(request())


async def test_non_json_200_is_provider_error_with_excerpt(
    adapter: OpenAIAdapter, api: respx.MockRouter
) -> None:
    api.post(URL).respond(200, text="<html>" + "x" * 5000 + "</html>")
    with pytest.raises(ProviderError) as info:
        await adapter.generate(request())
    exc = info.value
    assert exc.status_code == 200
    assert "is not JSON" in str(exc)
    assert "<html>xxx" in str(exc)
    assert len(str(exc)) < 1000


async def test_json_200_without_choices_is_provider_error(
    adapter: OpenAIAdapter, api: respx.MockRouter
) -> None:
    api.post(URL).respond(200, json={"error": {"message": "upstream overloaded"}})
    with pytest.raises(ProviderError, match=r"no usable choices\[0\]\.message \(upstream"):
        await adapter.generate(request())


async def test_empty_choices_is_provider_error(
    adapter: OpenAIAdapter, api: respx.MockRouter
) -> None:
    api.post(URL).respond(200, json={"choices": []})
    with pytest.raises(ProviderError, match="no usable choices"):
        await adapter.generate(request())


# --- transport errors through the adapter -----------------------------------------------


@pytest.mark.parametrize(
    "error", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.ReadError("reset")]
)
async def test_httpx_errors_become_transport_errors(
    adapter: OpenAIAdapter, api: respx.MockRouter, error: Exception
) -> None:
    api.post(URL).mock(side_effect=error)
    with pytest.raises(TransportError) as info:
        await adapter.generate(request())
    assert info.value.__cause__ is error
    assert URL in str(info.value)


async def test_connection_refused_on_default_transport() -> None:
    base = f"http://127.0.0.1:{closed_port()}/v1"
    async with OpenAIAdapter(base, api_key=KEY, model="m") as adapter:
        with pytest.raises(TransportError, match="got no response") as info:
            await adapter.generate(request())
    assert f"{base}/chat/completions" in str(info.value)
    assert isinstance(info.value, ConnectionError)


async def test_timeout_on_default_transport() -> None:
    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(10)
        return web.json_response(COMPLETION)

    async with serve(slow) as base, OpenAIAdapter(base, model="m", timeout=0.2) as adapter:
        with pytest.raises(TransportError, match="timed out"):
            await adapter.generate(request())


# --- default (aiohttp) transport end to end ---------------------------------------------


async def test_default_transport_round_trip() -> None:
    seen: list[tuple[str | None, dict[str, Any]]] = []

    async def handler(req: web.Request) -> web.Response:
        seen.append((req.headers.get("Authorization"), await req.json()))
        return web.json_response(COMPLETION)

    async with serve(handler) as base, OpenAIAdapter(base, KEY, "m") as adapter:
        generation = await adapter.generate(request(temperature=0.5))
    assert generation.text == "hello there"
    assert generation.endpoint == base
    assert seen == [
        (
            f"Bearer {KEY}",
            {
                "model": "m",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Say hello."},
                ],
                "temperature": 0.5,
            },
        )
    ]


async def test_default_transport_reads_retry_after_case_insensitively() -> None:
    async def limited(_: web.Request) -> web.Response:
        return web.json_response(
            {"error": {"message": "quota"}}, status=429, headers={"RETRY-AFTER": "3"}
        )

    async with serve(limited) as base, OpenAIAdapter(base, model="m") as adapter:
        with pytest.raises(RateLimited) as info:
            await adapter.generate(request())
    assert info.value.retry_after == 3.0


async def test_redirects_are_not_followed() -> None:
    followed: list[str] = []

    async def moved(_: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect("/elsewhere/v1/chat/completions")

    async def elsewhere(req: web.Request) -> web.Response:
        followed.append(req.headers.get("Authorization", ""))
        return web.json_response(COMPLETION)

    routes = {"/elsewhere/v1/chat/completions": elsewhere}
    async with serve(moved, routes) as base, OpenAIAdapter(base, KEY, "m") as adapter:
        with pytest.raises(ProviderError, match="redirects to '/elsewhere") as info:
            await adapter.generate(request())
    assert info.value.status_code == 307
    assert followed == []


# --- the API key never leaks -------------------------------------------------------------


async def test_key_not_in_repr(adapter: OpenAIAdapter) -> None:
    assert repr(adapter) == f"OpenAIAdapter(base_url={BASE!r}, model='default-model')"
    assert KEY not in repr(adapter._headers)


def test_adapter_refuses_to_pickle() -> None:
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(OpenAIAdapter(BASE, api_key=KEY, model="m"))


async def test_key_not_in_errors_or_logs(
    adapter: OpenAIAdapter, api: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    api.post(URL).respond(401, json={"error": {"message": "Incorrect API key provided."}})
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ProviderError) as info:
        await adapter.generate(request())
    exc = info.value
    rendered = "".join(traceback.format_exception(exc))
    for text in (str(exc), repr(exc), rendered, caplog.text):
        assert KEY not in text
    assert KEY.encode() not in pickle.dumps(exc)
    assert pickle.loads(pickle.dumps(exc)).status_code == 401


async def test_key_not_in_transport_errors(client: httpx.AsyncClient) -> None:
    base = f"http://127.0.0.1:{closed_port()}/v1"
    for adapter in (
        OpenAIAdapter(base, api_key=KEY, model="m"),
        OpenAIAdapter(base, api_key=KEY, model="m", http_client=client),
    ):
        async with adapter:
            with pytest.raises(TransportError) as info:
                await adapter.generate(request())
        exc = info.value
        rendered = "".join(traceback.format_exception(exc))
        assert KEY not in str(exc) + repr(exc) + rendered
        assert KEY.encode() not in pickle.dumps(exc)


# --- aclose ------------------------------------------------------------------------------


async def test_aclose_leaves_a_callers_http_client_open(api: respx.MockRouter) -> None:
    api.post(URL).respond(200, json=COMPLETION)
    async with httpx.AsyncClient() as client:
        async with OpenAIAdapter(BASE, model="m", http_client=client) as adapter:
            await adapter.generate(request())
        assert not client.is_closed
        await adapter.generate(request())  # the client still works


class RecordingTransport:
    def __init__(self) -> None:
        self.closed = False
        self.posts: list[tuple[str, bytes]] = []

    async def post(self, url: str, body: bytes, headers: Any) -> HTTPResponse:
        self.posts.append((url, body))
        return HTTPResponse(200, {}, orjson.dumps(COMPLETION))

    async def aclose(self) -> None:
        self.closed = True


async def test_aclose_leaves_a_callers_transport_open() -> None:
    transport = RecordingTransport()
    async with OpenAIAdapter(BASE, model="m", transport=transport) as adapter:
        generation = await adapter.generate(request())
    assert generation.text == "hello there"
    assert transport.posts[0][0] == URL
    assert not transport.closed


async def test_aclose_closes_the_transport_it_created() -> None:
    async def ok(_: web.Request) -> web.Response:
        return web.json_response(COMPLETION)

    async with serve(ok) as base:
        adapter = OpenAIAdapter(base, model="m")
        await adapter.generate(request())
        transport = adapter._transport
        assert isinstance(transport, FastTransport)
        assert transport._pool is not None and not transport._pool.closed
        pool = transport._pool
        await adapter.aclose()
        assert pool.closed
