"""Whole pipelines over HTTP against mock servers that fail on purpose.

Every run must end with each task ok or failed with a reason, and no final row missing or
duplicated (checked by lineage); retries must respect Retry-After, 401 must not be
retried, a pool must survive losing an endpoint, and cancelling must stop everything.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import orjson
import pytest

from fanflow import (
    EndpointPool,
    OpenAIAdapter,
    PipelineBuilder,
    PipelineConfig,
    PipelineResult,
    RetryPolicy,
    TaskStatus,
)
from fanflow.testing import Faults, MockServer
from tests.engine.pipeline.pipeline_steps import Answer, Question, Subtopics

pytestmark = pytest.mark.timeout(120)
QUICK = RetryPolicy(attempts=5, initial_backoff=0.01, max_backoff=0.2, jitter=0.01)


def model_answer(body: dict[str, Any]) -> str:
    """The mock model for `pipeline_steps` prompts: 5 subtopics, then a question, an answer."""
    prompt = body["messages"][-1]["content"]
    if match := re.fullmatch(r"subtopics of (.+)", prompt):
        return orjson.dumps([f"{match[1]}-{n}" for n in range(5)]).decode()
    if match := re.fullmatch(r"question on (.+) in (.+)", prompt):
        return f"Q({match[1]})"
    return f"A({prompt})"


@asynccontextmanager
async def serve(
    faults: Faults | None = None, latency: float = 0.0, timeout: float = 600.0, record: bool = False
) -> AsyncIterator[tuple[MockServer, OpenAIAdapter]]:
    """A mock server on 127.0.0.1 and an adapter for it."""
    async with (
        MockServer(model_answer, faults=faults, latency=latency, record=record) as server,
        OpenAIAdapter(server.base_url, model="m", timeout=timeout) as adapter,
    ):
        yield server, adapter


def qa_pipeline(network: Any, topics: int, **config: Any) -> PipelineBuilder:
    settings = PipelineConfig(progress=False, **config)
    builder = PipelineBuilder(settings, network).input([{"topic": f"t{i}"} for i in range(topics)])
    builder << Subtopics().scatter() << Question() << Answer()
    return builder


def assert_every_task_accounted_for(result: PipelineResult, topics: int) -> None:
    """Each step has exactly the tasks its parents' ok results imply; rows are unique."""
    steps = result.steps
    subtopics, questions, answers = (steps[n].results for n in ("subtopics", "question", "answer"))
    assert len(subtopics) == topics
    assert len(questions) == 5 * sum(r.ok for r in subtopics)
    assert len(answers) == sum(r.ok for r in questions)
    for task in [*subtopics, *questions, *answers]:
        assert task.status in (TaskStatus.OK, TaskStatus.FAILED, TaskStatus.TIMED_OUT)
        assert task.ok or task.error, f"{task.task_id} failed without a reason"
    lineages = [tuple(row["_lineage"]) for row in result.rows]
    assert len(lineages) == len(set(lineages)) == sum(r.ok for r in answers)
    expected = {r.lineage for r in answers if r.ok}
    assert set(lineages) == expected


EVERY_FAULT = Faults(
    server_error=0.04,
    rate_limit=0.02,
    drop=0.03,
    hang=0.005,
    malformed=0.03,
    slow_body=0.02,
    rate_limit_retry_after=0.05,
    slow_body_delay=0.05,
    seed=7,
)
"""About one request in six fails, in every way the mock server can fail."""


async def test_a_mix_of_every_fault_loses_and_duplicates_nothing() -> None:
    topics = 400  # 400 + 2000 + 2000 tasks
    async with serve(EVERY_FAULT, timeout=1.0) as (server, adapter):
        builder = qa_pipeline(adapter, topics, concurrency=64, retry=QUICK)
        result = await builder.build().execute()

    assert_every_task_accounted_for(result, topics)
    applied = server.faults_applied
    assert set(applied) == {"server_error", "rate_limit", "drop", "hang", "malformed", "slow_body"}
    assert result.stats.requests == len(server.arrivals)
    ok = sum(r.ok for step in result.steps.values() for r in step.results)
    assert ok > 0.99 * sum(len(step.results) for step in result.steps.values())


async def test_no_request_arrives_before_a_retry_after_runs_out() -> None:
    faults = Faults(rate_limit=0.05, rate_limit_retry_after=0.3, seed=3)
    async with serve(faults, record=True) as (server, adapter):
        builder = qa_pipeline(adapter, 40, concurrency=16, retry=QUICK)
        result = await builder.build().execute()

    assert server.faults_applied["rate_limit"] > 0
    assert not result.failures
    # Per request: the others go on while one waits (a few 429s pause no endpoint).
    assert server.early_resends() == []


async def test_401_is_not_retried_and_500_is_retried_at_most_the_attempts() -> None:
    script = ["unauthorized", "server_error", "server_error", "server_error"]
    faults = Faults(script=script, server_error_statuses=[500])
    policy = RetryPolicy(attempts=3, initial_backoff=0.001, jitter=0.0)
    async with serve(faults) as (server, adapter):
        result = await qa_pipeline(adapter, 2, concurrency=1, retry=policy).build().execute()

    first, second = result.steps["subtopics"].results
    assert first.status is TaskStatus.FAILED and first.requests == 1
    assert "401" in (first.error or "")
    assert second.status is TaskStatus.FAILED and second.requests == 3
    assert [a.status for a in server.arrivals[:4]] == [401, 500, 500, 500]


async def test_a_pool_survives_losing_an_endpoint_mid_run() -> None:
    servers = [MockServer(model_answer) for _ in range(3)]
    for server in servers:
        await server.start()
    adapters = [OpenAIAdapter(s.base_url, model="m", timeout=2.0) for s in servers]
    pool = EndpointPool(adapters, failure_threshold=2, probe_after=60.0)
    topics = 60  # 60 + 300 + 300 tasks

    async def stop_one_midway() -> None:
        await servers[1].wait_for(completions=50)  # about 150 of 660 tasks done in all
        await servers[1].stop()

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(stop_one_midway)
            result = await qa_pipeline(pool, topics, concurrency=32, retry=QUICK).build().execute()
    finally:
        for server in servers:
            await server.stop()
        await pool.aclose()

    assert not result.failures
    assert_every_task_accounted_for(result, topics)
    assert len(result.rows) == 5 * topics
    assert servers[1].completions_total < sum(s.completions_total for s in servers) / 2
    healthy = Counter(stats.healthy for stats in pool.snapshot())
    assert healthy[False] == 1


async def test_cancelling_a_run_returns_promptly_and_leaves_nothing_running() -> None:
    before = len(asyncio.all_tasks())
    async with serve(latency=30.0) as (server, adapter):
        run = asyncio.create_task(qa_pipeline(adapter, 100, concurrency=16).build().execute())
        await server.wait_for(requests=16)
        run.cancel()
        with anyio.fail_after(2), pytest.raises(asyncio.CancelledError):
            await run
        assert len(asyncio.all_tasks()) == before
