"""Usage per step and model, cost from a price table, and budgets that stop dispatching."""

from __future__ import annotations

import pytest

from fanflow import (
    Generation,
    GenerationRequest,
    MockAdapter,
    PipelineBuilder,
    PipelineConfig,
    RetryPolicy,
    TaskStatus,
    TransportError,
    Usage,
)
from tests.engine.pipeline.pipeline_steps import Answer, Question, Subtopics
from tests.engine.pipeline.test_pipeline import fake_llm


def priced_llm(request: GenerationRequest) -> Generation:
    """Every answer reports 100 prompt and 10 completion tokens."""
    return Generation(text=fake_llm(request), usage=Usage(100, 10), model=request.model)


def build(adapter: MockAdapter, topics: int = 2, **config: object) -> PipelineBuilder:
    settings = PipelineConfig(progress=False, **config)  # type: ignore[arg-type]
    pipeline = PipelineBuilder(settings, adapter).input([{"topic": f"t{i}"} for i in range(topics)])
    pipeline << Subtopics().scatter() << Question().set_models(["cheap"]) << Answer()
    return pipeline


async def test_usage_and_cost_are_broken_down_by_step_and_model() -> None:
    prices = {"cheap": (1.0, 2.0)}  # dollars per million tokens
    result = await build(MockAdapter(priced_llm), prices=prices).build().execute()

    stats = result.stats
    assert stats.usage == Usage(100 * 14, 10 * 14)
    assert stats.requests == 14
    assert stats.usage_by_step["question"].requests == 6
    assert stats.usage_by_model["cheap"].prompt_tokens == 600
    assert stats.cost == pytest.approx(6 * (100 * 1.0 + 10 * 2.0) / 1e6)
    assert stats.usage_by_step["question"].cost == pytest.approx(stats.cost)
    assert stats.stopped is None


async def test_failed_attempts_count_as_requests() -> None:
    def flaky(request: GenerationRequest) -> Generation:
        if "t1-0" in request.messages[-1].content:
            raise TransportError("connection reset", endpoint="mock")
        return priced_llm(request)

    quick = RetryPolicy(attempts=3, initial_backoff=0.001, jitter=0.0)
    result = await build(MockAdapter(flaky), retry=quick).build().execute()
    [failure] = result.failures
    assert failure.requests == 3
    assert "after 3 attempts" in (failure.error or "")
    assert result.stats.requests == 2 + 5 + 3 + 5  # the failed question has no answer task


async def test_max_tokens_total_stops_dispatch_and_says_so() -> None:
    adapter = MockAdapter(priced_llm)
    result = await build(adapter, topics=20, concurrency=1, max_tokens_total=550).build().execute()

    assert adapter.calls == 5  # 110 tokens a call; the fifth reaches 550
    assert result.stats.stopped is not None
    assert "max_tokens_total 550" in result.stats.stopped
    skipped = [r for r in result.failures if r.status is TaskStatus.SKIPPED]
    assert skipped, "tasks pending at the stop are recorded as skipped"
    assert all("not run: max_tokens_total" in (r.error or "") for r in skipped)


async def test_max_cost_stops_dispatch() -> None:
    adapter = MockAdapter(priced_llm)
    prices = {"cheap": (1000.0, 1000.0)}  # 0.11 dollars per question call
    pipeline = build(adapter, topics=5, concurrency=1, prices=prices, max_cost=0.2)
    result = await pipeline.build().execute()
    assert result.stats.stopped is not None and "max_cost" in result.stats.stopped
    assert result.stats.usage_by_model["cheap"].requests == 2
