"""`build()` refuses a network that cannot serve the pipeline, before any request."""

from __future__ import annotations

from typing import Any

import pytest

from fanflow import (
    ConfigurationError,
    Endpoint,
    EndpointPool,
    MockAdapter,
    OpenAIAdapter,
    PipelineBuilder,
    PipelineConfig,
    Prompt,
)
from fanflow.testing import MockServer

QUIET = PipelineConfig(progress=False)


def _builder(network: Any, step: Prompt | None = None) -> PipelineBuilder:
    builder = PipelineBuilder(QUIET, network).input(topic="physics")
    builder << (step or Prompt("say", "{{topic}}"))
    return builder


@pytest.mark.parametrize("network", ["http://127.0.0.1:8000/v1", 42, object()])
def test_a_network_that_is_not_an_adapter_is_refused_where_it_is_given(network: Any) -> None:
    with pytest.raises(ConfigurationError, match=f"network.*{type(network).__name__}"):
        PipelineBuilder(QUIET, network)


def test_an_adapter_class_instead_of_an_adapter_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="network is the class MockAdapter"):
        PipelineBuilder(QUIET, MockAdapter)  # type: ignore[arg-type]


def test_a_network_set_later_is_checked_at_build() -> None:
    builder = _builder(MockAdapter(lambda r: "ok"))
    builder.network = "http://127.0.0.1:8000/v1"  # type: ignore[assignment]

    with pytest.raises(ConfigurationError, match=r"network.*str"):
        builder.build()


def test_a_pool_serving_none_of_a_steps_models_is_refused_at_build() -> None:
    pool = EndpointPool([Endpoint(MockAdapter(lambda r: "ok"), models=["small", "large"])])
    step = Prompt("say", "{{topic}}").set_models(["small", "huge"])

    with pytest.raises(ConfigurationError, match=r"step 'say'.*'huge'.*'small'"):
        _builder(pool, step).build()


def test_a_pool_serving_the_steps_models_builds() -> None:
    pool = EndpointPool([Endpoint(MockAdapter(lambda r: "ok"), models=["small"])])
    _builder(pool, Prompt("say", "{{topic}}").set_models(["small"])).build()


async def test_no_model_anywhere_is_refused_at_build_and_nothing_is_sent() -> None:
    async with MockServer() as server:
        adapter = OpenAIAdapter(server.base_url)  # no model=
        with pytest.raises(ConfigurationError, match=r"step 'say'.*model"):
            _builder(adapter).build()
        await adapter.aclose()
        assert server.requests_total == 0


def test_a_model_from_the_step_or_the_adapter_is_enough() -> None:
    base = "http://127.0.0.1:8000/v1"
    _builder(OpenAIAdapter(base, model="m")).build()
    _builder(OpenAIAdapter(base), Prompt("say", "{{topic}}").set_models(["m"])).build()


def test_a_pool_of_endpoints_without_a_model_is_refused_when_a_step_names_none() -> None:
    base = "http://127.0.0.1:8000/v1"
    pool = EndpointPool([OpenAIAdapter(base, model="m"), OpenAIAdapter(base)])

    with pytest.raises(ConfigurationError, match="model"):
        _builder(pool).build()


def test_a_mock_adapter_needs_no_model() -> None:
    _builder(MockAdapter(lambda r: "ok")).build()
