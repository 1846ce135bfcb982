"""WrappingAdapter: what every wrapper (retries, rate limits) shares."""

from __future__ import annotations

import pytest

from fanflow import (
    ChatMessage,
    EndpointPool,
    Generation,
    GenerationRequest,
    MockAdapter,
    OpenAIAdapter,
    RateLimiter,
    RetryingAdapter,
)
from fanflow.adapters import AdapterBase, LLMAdapter, WrappingAdapter

REQUEST = GenerationRequest(messages=(ChatMessage("user", "hi"),))


class Shouting(WrappingAdapter):
    """A wrapper as a user would write one: only `generate`."""

    async def generate(self, request: GenerationRequest) -> Generation:
        generation = await self.wrapped.generate(request)
        return Generation(text=generation.text.upper())


class Closing(MockAdapter):
    closed = False

    async def aclose(self) -> None:
        self.closed = True


async def test_a_subclass_wraps_generate_and_inherits_model_and_aclose() -> None:
    inner = Closing(["hello"], model="m-1")
    async with Shouting(inner) as adapter:
        assert (await adapter.generate(REQUEST)).text == "HELLO"
        assert adapter.wrapped is inner
        assert adapter.adapter is inner  # the older name still reads
        assert adapter.model == "m-1"
        inner.model = "m-2"
        assert adapter.model == "m-2"  # read through, not copied
    assert inner.closed


def test_model_and_adapter_are_read_only() -> None:
    adapter = Shouting(MockAdapter(["x"]))
    with pytest.raises(AttributeError):
        adapter.model = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        adapter.adapter = MockAdapter(["y"])  # type: ignore[misc]


@pytest.mark.parametrize("wrap", [RetryingAdapter, RateLimiter, Shouting])
def test_the_wrappers_report_the_wrapped_model_through_any_depth(
    wrap: type[WrappingAdapter],
) -> None:
    inner = OpenAIAdapter("http://127.0.0.1:9/v1", model="served")
    adapter = wrap(RetryingAdapter(inner))
    assert adapter.model == "served"
    assert isinstance(adapter, LLMAdapter)


def test_every_adapter_has_a_model_and_flags() -> None:
    class Minimal(AdapterBase):
        async def generate(self, request: GenerationRequest) -> Generation:
            return Generation(text="x")

    assert Minimal().model is None
    assert isinstance(Minimal(), LLMAdapter)
    flags = {
        type(adapter).__name__: (adapter.retrying, adapter.pacing)
        for adapter in (
            Minimal(),
            MockAdapter(["x"]),
            OpenAIAdapter("http://127.0.0.1:9/v1"),
            RetryingAdapter(Minimal()),
            RateLimiter(Minimal()),
            EndpointPool([Minimal()]),
        )
    }
    assert flags == {
        "Minimal": (False, False),
        "MockAdapter": (False, False),
        "OpenAIAdapter": (False, False),
        "RetryingAdapter": (True, False),
        "RateLimiter": (False, True),
        "EndpointPool": (False, True),
    }
