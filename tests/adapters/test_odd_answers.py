"""Answers from OpenAI-compatible servers that are odd but real (issue #12, items 10-11):
content as a list of parts, compressed bodies sent although fanflow asks for identity, and
bodies that are binary. Served by `fanflow.testing.MockServer` on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from fanflow import AdapterError, ChatMessage, GenerationRequest, OpenAIAdapter, ProviderError
from fanflow.adapters import AiohttpTransport, HTTPTransport, HttpxTransport
from fanflow.testing import MockServer
from fanflow.testing._responses import Reply

HELLO = GenerationRequest(messages=(ChatMessage("user", "Say hello."),), model="mock-model")


@asynccontextmanager
async def adapter_for(
    server: MockServer, transport: HTTPTransport | None = None
) -> AsyncIterator[OpenAIAdapter]:
    async with OpenAIAdapter(server.base_url, api_key="sk-x", transport=transport) as adapter:
        yield adapter


async def test_content_as_a_list_of_parts_is_joined() -> None:
    parts = [
        {"type": "text", "text": "Hello, "},
        {"type": "image_url", "image_url": {"url": "data:,"}},
        {"type": "text", "text": "world."},
    ]
    answer = {"message": {"role": "assistant", "content": parts}}
    async with MockServer(lambda body: answer) as server, adapter_for(server) as adapter:
        generation = await adapter.generate(HELLO)
    assert generation.text == "Hello, world."


async def test_content_of_another_type_is_a_clear_error() -> None:
    answer = {"message": {"role": "assistant", "content": 42}}
    async with MockServer(lambda body: answer) as server, adapter_for(server) as adapter:
        with pytest.raises(ProviderError, match="content"):
            await adapter.generate(HELLO)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
@pytest.mark.parametrize("transport", ["fast", "aiohttp", "httpx"])
async def test_a_compressed_body_is_decoded(encoding: str, transport: str) -> None:
    answer = {"message": {"role": "assistant", "content": "squeezed"}, "content_encoding": encoding}
    chosen: HTTPTransport | None = None
    if transport == "aiohttp":
        chosen = AiohttpTransport()
    elif transport == "httpx":
        chosen = HttpxTransport()
    async with MockServer(lambda body: answer) as server, adapter_for(server, chosen) as adapter:
        generation = await adapter.generate(HELLO)
        if chosen is not None:
            await chosen.aclose()
    assert generation.text == "squeezed"
    assert server.requests_total == 1


class _BinaryServer(MockServer):
    """Answers 200 with bytes that are neither JSON nor text, labelled as `encoding`."""

    def __init__(self, body: bytes, encoding: str | None) -> None:
        super().__init__()
        self.body, self.encoding = body, encoding

    def decide(self, request: Any) -> Reply:
        headers = () if self.encoding is None else ((b"content-encoding", self.encoding.encode()),)
        return Reply(200, self.body, headers)


BINARY = bytes(range(256)) * 8


@pytest.mark.parametrize("encoding", [None, "gzip", "br"])
async def test_a_binary_body_never_reaches_the_message_raw(encoding: str | None) -> None:
    async with _BinaryServer(BINARY, encoding) as server, adapter_for(server) as adapter:
        with pytest.raises(AdapterError) as caught:
            await adapter.generate(HELLO)
    message = str(caught.value)
    assert message.isprintable()
    assert len(message) < 1000
    assert all(ch not in message for ch in ("\x00", "\x1f", "\ufffd"))
    body = getattr(caught.value, "body", "")
    assert body.isprintable() and len(body) < 5000
    if encoding is not None:
        assert f"Content-Encoding: {encoding}" in message
    if encoding == "gzip":
        assert "does not decompress" in message
