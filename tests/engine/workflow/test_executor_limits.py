"""The run's time limit (`max_time`, `timeout`) against other cancellations and other runs.

Each run's limit behaves as `asyncio.timeout` around it would (anyio's `move_on_after` on
Python 3.10): it cuts a hanging call at the limit, takes back its own cancel request, and
leaves any other cancellation (a task's `cancel()`, an anyio cancel scope) to propagate.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time

import anyio
import pytest

from fanflow import GenerationRequest, MockAdapter, WorkflowTimeout
from fanflow.engine import run_workflow
from fanflow.steps import Workflow, WorkflowBuilder, Write


def _workflow(max_time: float = 200) -> Workflow:
    builder = WorkflowBuilder()
    builder.generative_step("Go.", id="only", outputs=[Write.new("out")])
    builder.set_return_value("out")
    builder.set_max_time(max_time)
    return builder.build()


def _answering(delay: float = 0.0) -> MockAdapter:
    """Answers "done" after `delay` seconds."""
    return MockAdapter(lambda request: "done", latency=delay)


async def _never(request: GenerationRequest) -> str:
    await anyio.sleep_forever()
    raise AssertionError("unreachable")


HANGS = MockAdapter(_never)


async def _elapsed_until_timeout(workflow: Workflow, timeout: float | None = None) -> float:
    start = time.monotonic()
    with pytest.raises(WorkflowTimeout):
        await run_workflow(workflow, HANGS, timeout=timeout)
    return time.monotonic() - start


# --- against other cancellations ----------------------------------------------------------


async def test_a_timed_out_run_leaves_no_cancel_request_on_its_task() -> None:
    with pytest.raises(WorkflowTimeout):
        await run_workflow(_workflow(max_time=0.05), HANGS)

    if sys.version_info >= (3, 11):  # on 3.10 `cancelling` is anyio's own bookkeeping
        task = asyncio.current_task()
        assert task is not None
        assert task.cancelling() == 0
    await asyncio.sleep(0.01)  # no cancellation is still pending


async def test_a_cancel_scope_around_the_run_is_not_taken_for_its_time_limit() -> None:
    with anyio.move_on_after(0.05) as scope:
        await run_workflow(_workflow(max_time=600), HANGS)

    assert scope.cancelled_caught


async def test_task_cancel_during_a_run_propagates() -> None:
    task = asyncio.create_task(run_workflow(_workflow(max_time=600), HANGS))
    await asyncio.sleep(0.02)
    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_cancellation_arriving_with_the_time_limit_is_not_swallowed() -> None:
    # The adapter holds the loop past both deadlines: when the loop runs again the limit
    # and the outer cancel fire in the same iteration, and the outer one must win.
    async def hold_the_loop_then_hang(request: GenerationRequest) -> str:
        time.sleep(0.15)
        return await _never(request)

    adapter = MockAdapter(hold_the_loop_then_hang)
    task = asyncio.create_task(run_workflow(_workflow(max_time=0.05), adapter))
    asyncio.get_running_loop().call_later(0.05, task.cancel)

    with pytest.raises(asyncio.CancelledError):
        await task


async def test_the_limit_cuts_a_call_waiting_inside_an_anyio_scope_of_its_own() -> None:
    async def scoped(request: GenerationRequest) -> str:
        with anyio.fail_after(60):
            await anyio.sleep(3600)
        raise AssertionError("unreachable")

    with anyio.fail_after(10), pytest.raises(WorkflowTimeout, match="during task 'only'"):
        await run_workflow(_workflow(max_time=0.05), MockAdapter(scoped))


async def test_a_timeout_in_one_task_of_a_task_group_leaves_the_others_running() -> None:
    outcomes: list[str] = []

    async def run(workflow: Workflow, adapter: MockAdapter) -> None:
        try:
            outcomes.append((await run_workflow(workflow, adapter)).result)
        except WorkflowTimeout:
            outcomes.append("timed out")

    async with anyio.create_task_group() as group:
        group.start_soon(run, _workflow(max_time=0.05), HANGS)
        group.start_soon(run, _workflow(max_time=0.05), _answering(delay=0.01))
        group.start_soon(run, _workflow(max_time=5), _answering(delay=0.15))

    assert sorted(outcomes) == ["done", "done", "timed out"]


async def test_cancelling_a_task_group_stops_its_runs_without_a_timeout() -> None:
    started = time.monotonic()
    async with anyio.create_task_group() as group:
        for _ in range(3):
            group.start_soon(run_workflow, _workflow(max_time=600), HANGS)
        await anyio.sleep(0.02)
        group.cancel_scope.cancel()

    assert time.monotonic() - started < 5


# --- runs and their own limits ------------------------------------------------------------


async def test_concurrent_runs_each_stop_at_their_own_limit() -> None:
    async def timed(max_time: float, timeout: float | None = None) -> float:
        return await _elapsed_until_timeout(_workflow(max_time), timeout)

    short, long, by_timeout = await asyncio.gather(timed(0.05), timed(0.3), timed(200, 0.15))

    assert 0.05 <= short < 0.25
    assert 0.3 <= long < 1.5
    assert 0.15 <= by_timeout < 1.0


async def test_a_run_gets_its_full_time_after_an_earlier_run_under_the_same_limit() -> None:
    workflow = _workflow(max_time=0.3)
    assert (await run_workflow(workflow, _answering())).result == "done"
    await asyncio.sleep(0.1)  # the earlier run's deadline now comes before this run's

    assert await _elapsed_until_timeout(workflow) >= 0.3


async def test_a_limit_still_cuts_runs_after_all_earlier_runs_under_it_have_ended() -> None:
    workflow = _workflow(max_time=0.05)
    await run_workflow(workflow, _answering())
    await asyncio.sleep(0.1)  # past the earlier run's deadline, with no run left under it

    assert 0.05 <= await _elapsed_until_timeout(workflow) < 1.0


async def test_runs_that_end_in_time_are_untouched_by_a_neighbour_timing_out() -> None:
    workflow = _workflow(max_time=0.1)

    async def quick_runs() -> list[str]:
        results = []
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            results.append((await run_workflow(workflow, _answering(delay=0.01))).result)
        return results

    hanging, quick = await asyncio.gather(_elapsed_until_timeout(workflow), quick_runs())

    assert hanging >= 0.1
    assert quick and set(quick) == {"done"}


async def test_runs_on_another_event_loop_keep_their_own_limits() -> None:
    other: list[float] = []
    thread = threading.Thread(
        target=lambda: other.append(asyncio.run(_elapsed_until_timeout(_workflow(0.2))))
    )
    thread.start()
    here = await _elapsed_until_timeout(_workflow(0.2))
    await asyncio.to_thread(thread.join)

    assert here >= 0.2
    assert len(other) == 1 and other[0] >= 0.2
