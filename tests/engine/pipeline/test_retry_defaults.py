"""A network handed to PipelineBuilder is retried and paused after 429s by default."""

from __future__ import annotations

from fanflow import (
    GenerationRequest,
    MockAdapter,
    PipelineBuilder,
    PipelineConfig,
    ProviderError,
    RateLimited,
    RetryPolicy,
    TaskStatus,
)
from tests.engine.pipeline.pipeline_steps import Subtopics
from tests.engine.pipeline.test_pipeline import fake_llm

QUICK = RetryPolicy(initial_backoff=0.001, jitter=0.0)


def failing_first(error: Exception, times: int = 1) -> MockAdapter:
    calls = 0

    def llm(request: GenerationRequest) -> str:
        nonlocal calls
        calls += 1
        if calls <= times:
            raise error
        return fake_llm(request)

    return MockAdapter(llm)


async def run(adapter: MockAdapter, config: PipelineConfig) -> tuple[int, TaskStatus]:
    pipeline = PipelineBuilder(config, adapter).input(topic="t")
    pipeline << Subtopics()
    result = await pipeline.build().execute()
    [task] = result.steps["subtopics"].results
    return task.requests, task.status


def test_the_default_config_retries() -> None:
    assert PipelineConfig().retry == RetryPolicy()


async def test_a_500_is_retried_without_the_user_wrapping_anything() -> None:
    adapter = failing_first(ProviderError("down", status_code=500))
    requests, status = await run(adapter, PipelineConfig(progress=False, retry=QUICK))
    assert (requests, status) == (2, TaskStatus.OK)


async def test_a_401_is_not_retried() -> None:
    adapter = failing_first(ProviderError("bad key", status_code=401), times=5)
    requests, status = await run(adapter, PipelineConfig(progress=False, retry=QUICK))
    assert (requests, status) == (1, TaskStatus.FAILED)
    assert adapter.calls == 1


async def test_retry_none_sends_each_request_once() -> None:
    adapter = failing_first(ProviderError("down", status_code=500))
    requests, status = await run(adapter, PipelineConfig(progress=False, retry=None))
    assert (requests, status) == (1, TaskStatus.FAILED)


async def test_a_429_waits_its_retry_after() -> None:
    adapter = failing_first(RateLimited("slow down", retry_after=0.05))
    requests, status = await run(adapter, PipelineConfig(progress=False, retry=QUICK))
    assert (requests, status) == (2, TaskStatus.OK)
