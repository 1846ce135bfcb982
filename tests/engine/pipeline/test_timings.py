"""Per-task timings (issue #17): every task result says when it was queued, started and
finished, how long its requests took and how many were sent; kept by the store and
`load_run`, and for cache hits the timing of the reuse (no latency, no attempts).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fanflow import (
    MockAdapter,
    OpenAIAdapter,
    PipelineBuilder,
    PipelineConfig,
    Prompt,
    RetryPolicy,
    TaskResult,
    TaskTiming,
    load_run,
    step,
)
from fanflow.testing import Faults, MockServer

QUICK = RetryPolicy(initial_backoff=0.001, jitter=0.0)


def _pipeline(adapter: Any, **config: Any) -> PipelineBuilder:
    return PipelineBuilder(PipelineConfig(progress=False, **config), adapter)


def _timed(result: TaskResult) -> TaskTiming:
    timing = result.timing
    assert timing is not None, f"{result.task_id} has no timing"
    assert timing.queued <= timing.started <= timing.finished
    assert timing.duration == timing.finished - timing.queued
    return timing


def _two_steps(adapter: Any, **config: Any) -> PipelineBuilder:
    builder = _pipeline(adapter, **config).input([{"topic": "a"}, {"topic": "b"}])
    builder << Prompt("items", '["x", "y"]').scatter("item") << Prompt("say", "{{item}}")
    return builder


def _answer(request: Any) -> str:
    prompt = request.messages[-1].content
    return '["x", "y"]' if prompt.startswith("[") else f"about {prompt}"


async def test_every_task_has_a_timing_with_its_latency_and_attempts() -> None:
    result = await _two_steps(MockAdapter(_answer, latency=0.01)).build().execute()

    tasks = [*result.steps["items"].results, *result.steps["say"].results]
    assert len(tasks) == 6
    for task in tasks:
        timing = _timed(task)
        assert timing.latency > 0
        assert timing.attempts == task.requests == 1
    # A child is queued once its parent finished.
    parents = {task.lineage: task for task in result.steps["items"].results}
    for child in result.steps["say"].results:
        assert _timed(child).queued >= _timed(parents[child.lineage[:1]]).finished


async def test_timings_are_kept_by_the_store_and_load_run(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    result = await _two_steps(MockAdapter(_answer, latency=0.01), store=store).build().execute()
    again = load_run(result.run_name or "", store)

    before = {task.task_id: task.timing for task in result.steps["say"].results}
    after = {task.task_id: task.timing for task in again.steps["say"].results}
    assert after == before
    assert all(timing is not None and timing.latency > 0 for timing in after.values())


async def test_in_memory_results_have_timings() -> None:
    result = await _two_steps(MockAdapter(_answer), store=False).build().execute()
    assert all(_timed(task).attempts == 1 for task in result.steps["say"].results)


async def test_a_retried_request_counts_every_attempt_and_its_latency() -> None:
    faults = Faults(script=["server_error", "server_error"])
    async with (
        MockServer(latency=0.02, faults=faults) as server,
        OpenAIAdapter(server.base_url, model="mock-model") as adapter,
    ):
        builder = _pipeline(adapter, retry=QUICK).input(topic="t")
        builder << Prompt("say", "say {{topic}}")
        result = await builder.build().execute()
    (task,) = result.steps["say"].results
    assert task.ok
    timing = _timed(task)
    assert timing.attempts == task.requests == 3
    # Every attempt waited for the server's latency; the failed ones count too.
    assert timing.latency >= 3 * 0.02


async def test_a_cache_hit_is_timed_as_a_reuse_without_requests(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    adapter = MockAdapter(_answer, latency=0.01)
    first = _pipeline(adapter, store=store, run_name="first").input(topic="t")
    first << Prompt("say", "say {{topic}}")
    await first.build().execute()
    second = _pipeline(adapter, store=store, run_name="second").input(topic="t")
    second << Prompt("say", "say {{topic}}")
    result = await second.build().execute()

    (task,) = result.steps["say"].results
    assert task.cached
    timing = _timed(task)
    assert (timing.latency, timing.attempts) == (0.0, 0)
    (stored,) = load_run("second", store).steps["say"].results
    assert stored.timing == timing


async def test_failed_and_function_tasks_are_timed_too() -> None:
    @step
    def shout(say: str) -> dict[str, str]:
        return {"loud": say.upper()}

    def failing(request: Any) -> str:
        raise ValueError("no answer")

    builder = _pipeline(MockAdapter(failing), retry=None).input(topic="t")
    builder << Prompt("say", "say {{topic}}") << shout
    result = await builder.build().execute()
    (failure,) = result.failures
    assert _timed(failure).attempts == 1

    ok = _pipeline(MockAdapter(_answer)).input(topic="t")
    ok << Prompt("say", "say {{topic}}") << shout
    done = await ok.build().execute()
    (called,) = done.steps["shout"].results
    assert (_timed(called).latency, _timed(called).attempts) == (0.0, 0)


async def test_tasks_skipped_by_a_budget_are_timed_when_skipped(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    builder = _pipeline(MockAdapter(_answer), concurrency=1, max_tokens_total=5, store=store)
    builder.input([{"topic": str(i)} for i in range(6)])
    builder << Prompt("items", '["x", "y"]').scatter("item") << Prompt("say", "{{item}}")
    result = await builder.build().execute()

    skipped = [task for task in result.failures if task.status.value == "skipped"]
    assert skipped  # queued ones and input rows never read
    for task in skipped:
        timing = _timed(task)
        assert timing.started == timing.finished
        assert (timing.latency, timing.attempts) == (0.0, 0)


async def test_runs_show_and_the_report_give_a_retried_task_the_same_request_latency(
    tmp_path: Path,
) -> None:
    from fanflow.store import step_timings

    faults = Faults(script=["server_error"])
    async with (
        MockServer(latency=0.02, faults=faults) as server,
        OpenAIAdapter(server.base_url, model="mock-model") as adapter,
    ):
        builder = _pipeline(adapter, retry=QUICK).input(topic="t")
        builder << Prompt("say", "say {{topic}}")
        result = await builder.build().execute()
    (task,) = result.steps["say"].results
    timing = _timed(task)
    assert timing.attempts == 2 and timing.request_latency == timing.latency / 2

    shown = step_timings(result.steps["say"].results)["say"]
    html = result.report(tmp_path / "r.html").read_text()
    assert shown.latency_max == timing.request_latency
    assert f"{timing.request_latency:.2f} s" in html
