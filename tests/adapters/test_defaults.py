"""with_defaults: retries and a 429 pause for a network that does not already have them."""

from __future__ import annotations

import pytest

from fanflow import (
    ChatMessage,
    Endpoint,
    EndpointPool,
    Generation,
    GenerationRequest,
    MockAdapter,
    RateLimiter,
    RetryingAdapter,
    RetryPolicy,
)
from fanflow.adapters import AdapterBase, LLMAdapter, with_defaults

POLICY = RetryPolicy(attempts=3)


def mock() -> MockAdapter:
    return MockAdapter(lambda request: "ok")


def test_a_plain_adapter_gets_a_rate_limiter_under_the_retries() -> None:
    inner = mock()
    network = with_defaults(inner, POLICY)
    assert isinstance(network, RetryingAdapter)
    assert network.policy is POLICY
    assert isinstance(network.wrapped, RateLimiter)
    assert network.wrapped.wrapped is inner


def test_a_retrying_adapter_is_left_as_it_is() -> None:
    retrying = RetryingAdapter(mock(), RetryPolicy(attempts=9))
    assert with_defaults(retrying, POLICY) is retrying


@pytest.mark.parametrize("pacing", [EndpointPool([mock(), mock()]), RateLimiter(mock())])
def test_a_network_that_pauses_after_a_429_gets_only_the_retries(pacing: LLMAdapter) -> None:
    network = with_defaults(pacing, POLICY)
    assert isinstance(network, RetryingAdapter)
    assert network.wrapped is pacing


@pytest.mark.parametrize(
    "network",
    [mock(), EndpointPool([Endpoint(mock(), name="a")]), RetryingAdapter(mock())],
)
def test_no_policy_leaves_any_network_alone(network: LLMAdapter) -> None:
    assert with_defaults(network, None) is network


def test_the_flags_come_from_the_class_not_from_isinstance() -> None:
    class SelfRetrying(AdapterBase):
        retrying = True

        async def generate(self, request: GenerationRequest) -> Generation:
            return Generation(text="ok")

    class SelfPacing(AdapterBase):
        pacing = True

        async def generate(self, request: GenerationRequest) -> Generation:
            return Generation(text="ok")

    own = SelfRetrying()
    assert with_defaults(own, POLICY) is own
    paced = SelfPacing()
    network = with_defaults(paced, POLICY)
    assert isinstance(network, RetryingAdapter) and network.wrapped is paced


async def test_an_adapter_without_the_flags_counts_as_doing_neither() -> None:
    class ThirdParty:  # duck-typed: no AdapterBase, no flags, no model
        async def generate(self, request: GenerationRequest) -> Generation:
            return Generation(text="third")

        async def aclose(self) -> None:
            return None

    network = with_defaults(ThirdParty(), POLICY)  # type: ignore[arg-type]
    assert isinstance(network, RetryingAdapter) and isinstance(network.wrapped, RateLimiter)
    assert network.model is None
    request = GenerationRequest(messages=(ChatMessage("user", "hi"),))
    assert (await network.generate(request)).text == "third"
