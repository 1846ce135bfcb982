"""How fanflow reacts to 429s and Retry-After, end to end against the mock server.

A random few 429s must not starve the other requests; a spent quota must not be hammered;
no request is sent again before the Retry-After it was answered with (any status).
Timings are not asserted here: `bench/rate_limits.py` measures wall time.
"""

from __future__ import annotations

import pytest

from fanflow import OpenAIAdapter, PipelineBuilder, PipelineConfig, Prompt, RetryPolicy
from fanflow.testing import Faults, MockServer

pytestmark = pytest.mark.timeout(120)


def prompt_pipeline(network: OpenAIAdapter, rows: int, **config: object) -> PipelineBuilder:
    settings = PipelineConfig(progress=False, store=False, **config)  # type: ignore[arg-type]
    builder = PipelineBuilder(settings, network).input([{"n": str(i)} for i in range(rows)])
    builder << Prompt("say", "say {{n}}")
    return builder


async def test_random_429s_lose_nothing_and_no_request_returns_before_its_retry_after() -> None:
    faults = Faults(rate_limit=0.05, rate_limit_retry_after=1.0, seed=5)
    async with (
        MockServer(latency=0.05, faults=faults, record=True) as server,
        OpenAIAdapter(server.base_url, model="mock-model") as adapter,
    ):
        result = await prompt_pipeline(adapter, 2000, concurrency=128).build().execute()

    assert result.stats.tasks["ok"] == 2000
    assert len(result.rows) == 2000
    assert server.faults_applied["rate_limit"] > 50
    assert server.early_resends() == []
    # Other requests went on while one waited: the endpoint was not paused by a few 429s.
    assert server.early_retries(grace=0.06) != []


async def test_a_spent_quota_gets_a_few_probes_not_every_request_again() -> None:
    tasks = 48
    faults = Faults(rate_limit_for=2.0, rate_limit_retry_after=0.5)
    async with (
        MockServer(latency=0.01, faults=faults, record=True) as server,
        OpenAIAdapter(server.base_url, model="mock-model") as adapter,
    ):
        result = await prompt_pipeline(adapter, tasks, concurrency=tasks).build().execute()

    assert result.stats.tasks["ok"] == tasks
    limited = [a for a in server.arrivals if a.status == 429]
    # The first burst (at most one request per task) is answered 429 before the client
    # learns the quota is spent; after that only probes may arrive during the 2 s.
    assert len(limited) <= tasks + 4
    assert server.early_resends() == []


async def test_a_retry_after_above_max_retry_after_fails_that_request_only() -> None:
    faults = Faults(script=["rate_limit"], rate_limit_retry_after=3600.0)
    policy = RetryPolicy(max_retry_after=60.0)
    async with (
        MockServer(faults=faults) as server,
        OpenAIAdapter(server.base_url, model="mock-model") as adapter,
    ):
        result = await prompt_pipeline(adapter, 8, concurrency=1, retry=policy).build().execute()

    assert result.stats.tasks["ok"] == 7
    assert result.stats.tasks["failed"] == 1
    (failure,) = result.failures
    assert "3600" in failure.error and "max_retry_after" in failure.error


async def test_retry_after_on_a_503_is_waited_out() -> None:
    faults = Faults(
        script=["server_error"], server_error_statuses=[503], server_error_retry_after=0.5
    )
    policy = RetryPolicy(initial_backoff=0.01, jitter=0.0)
    async with (
        MockServer(faults=faults, record=True) as server,
        OpenAIAdapter(server.base_url, model="mock-model") as adapter,
    ):
        result = await prompt_pipeline(adapter, 1, retry=policy).build().execute()

    assert result.stats.tasks["ok"] == 1
    assert [a.status for a in server.arrivals] == [503, 200]
    assert server.early_resends() == []
