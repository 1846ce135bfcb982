"""What a run counts when answers are cut off or say little: requests, tokens, skipped rows."""

from __future__ import annotations

import pytest

from fanflow import (
    Generation,
    GenerationRequest,
    LLMAdapter,
    MockAdapter,
    OpenAIAdapter,
    PipelineBuilder,
    PipelineConfig,
    Prompt,
    RateLimiter,
    RetryPolicy,
    TaskStatus,
    Usage,
)
from fanflow.testing import Faults, MockServer

pytestmark = pytest.mark.timeout(60)


def prompt_pipeline(network: LLMAdapter, rows: int, **config: object) -> PipelineBuilder:
    settings = PipelineConfig(progress=False, store=False, **config)  # type: ignore[arg-type]
    builder = PipelineBuilder(settings, network).input([{"n": str(i)} for i in range(rows)])
    builder << Prompt("say", "say {{n}}")
    return builder


async def test_requests_cut_off_by_the_task_timeout_are_counted() -> None:
    async with (
        MockServer(faults=Faults(hang=1.0)) as server,
        OpenAIAdapter(server.base_url, model="mock-model") as adapter,
    ):
        builder = prompt_pipeline(adapter, 10, concurrency=10, task_timeout=0.2)
        result = await builder.build().execute()

    assert result.stats.tasks["timed_out"] == 10
    assert result.stats.requests == len(server.arrivals) == 10


async def test_a_retry_cut_off_by_the_task_timeout_counts_with_the_attempts_before() -> None:
    faults = Faults(script=["server_error"], hang=1.0, server_error_statuses=[500])
    policy = RetryPolicy(initial_backoff=0.01, jitter=0.0)
    async with (
        MockServer(faults=faults) as server,
        OpenAIAdapter(server.base_url, model="mock-model") as adapter,
    ):
        builder = prompt_pipeline(adapter, 1, task_timeout=0.3, retry=policy)
        result = await builder.build().execute()

    assert result.stats.tasks["timed_out"] == 1
    assert result.stats.requests == len(server.arrivals) == 2


async def test_requests_cut_off_while_waiting_in_the_rate_limiter_are_not_counted() -> None:
    async with (
        MockServer() as server,
        OpenAIAdapter(server.base_url, model="mock-model") as adapter,
    ):
        limited = RateLimiter(adapter, requests_per_minute=1)
        builder = prompt_pipeline(limited, 3, concurrency=3, task_timeout=0.3)
        result = await builder.build().execute()

    assert result.stats.tasks == {"ok": 1, "failed": 0, "timed_out": 2, "skipped": 0}
    assert result.stats.requests == len(server.arrivals) == 1


@pytest.mark.parametrize("usage", ["total", "none"])
async def test_a_token_budget_stops_a_server_that_reports_little_usage(
    usage: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        MockServer(lambda body: "a fairly short answer", usage=usage) as server,
        OpenAIAdapter(server.base_url, model="mock-model") as adapter,
    ):
        builder = prompt_pipeline(adapter, 50, concurrency=1, max_tokens_total=40)
        with caplog.at_level("WARNING", logger="fanflow"):
            result = await builder.build().execute()

    stats = result.stats
    assert stats.stopped is not None and "max_tokens_total 40" in stats.stopped
    assert stats.tasks["ok"] < 50
    assert stats.usage.total_tokens >= 40
    assert stats.tokens_estimated == stats.tasks["ok"]
    said = [r.getMessage() for r in caplog.records if "estimated" in r.getMessage()]
    assert len(said) == 1, said
    assert server.base_url in said[0]


async def test_full_usage_is_not_estimated() -> None:
    async with (
        MockServer() as server,
        OpenAIAdapter(server.base_url, model="mock-model") as adapter,
    ):
        result = await prompt_pipeline(adapter, 3).build().execute()

    assert result.stats.usage.total_tokens > 0
    assert result.stats.tokens_estimated == 0


def priced(request: GenerationRequest) -> Generation:
    return Generation(text="ok", usage=Usage(100, 10), model="cheap")


async def test_rows_never_started_after_a_budget_stop_count_as_skipped() -> None:
    settings = PipelineConfig(progress=False, store=False, concurrency=2, max_tokens_total=1000)
    builder = PipelineBuilder(settings, MockAdapter(priced))
    builder.input([{"n": str(i)} for i in range(200)]) << Prompt("say", "say {{n}}")
    result = await builder.build().execute()

    tasks = result.stats.tasks
    assert tasks["ok"] < 200
    assert tasks["ok"] + tasks["skipped"] == 200
    skipped = [r for r in result.failures if r.status is TaskStatus.SKIPPED]
    assert len(skipped) == tasks["skipped"]
    assert all("not run: max_tokens_total 1000" in (r.error or "") for r in skipped)
    assert {r.lineage for r in skipped} | {r.lineage for r in result.steps["say"].ok} == {
        (i,) for i in range(200)
    }


async def test_a_max_cost_stop_shows_a_tiny_cost_with_digits_that_are_not_zero() -> None:
    prices = {"cheap": (0.1, 0.1)}  # 110 tokens a call: $0.000011
    settings = PipelineConfig(
        progress=False, store=False, concurrency=1, prices=prices, max_cost=0.00003
    )
    builder = PipelineBuilder(settings, MockAdapter(priced))
    builder.input([{"n": str(i)} for i in range(10)]) << Prompt("say", "say {{n}}")
    result = await builder.build().execute()

    stopped = result.stats.stopped
    assert stopped is not None
    assert "$0.00003 " in stopped and "spent $0.000033" in stopped, stopped
    assert result.stats.tasks == {"ok": 3, "failed": 0, "timed_out": 0, "skipped": 7}
