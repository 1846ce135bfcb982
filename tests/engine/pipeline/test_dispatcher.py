"""Dispatch order and concurrency: streaming, barriers per group, depth priority, cancel.

These synchronise with events: a test whose premise fails blocks on an event and is ended
by the test timeout, which is the failure.
"""

from __future__ import annotations

import asyncio

import anyio
import pytest

from fanflow import GenerationRequest, MockAdapter, PipelineBuilder, PipelineConfig
from tests.engine.pipeline.pipeline_steps import Answer, Question, Subtopics, Summary
from tests.engine.pipeline.test_pipeline import fake_llm

pytestmark = pytest.mark.timeout(10)


def build(adapter: MockAdapter, topics: list[str], concurrency: int) -> PipelineBuilder:
    config = PipelineConfig(progress=False, concurrency=concurrency)
    return PipelineBuilder(config, adapter).input([{"topic": t} for t in topics])


async def test_next_step_starts_before_its_slowest_sibling_finishes() -> None:
    question_started = asyncio.Event()

    async def llm(request: GenerationRequest) -> str:
        prompt = request.messages[-1].content
        if prompt.startswith("question on"):
            question_started.set()
        if prompt == "subtopics of slow":
            await question_started.wait()  # only a streaming dispatcher gets past this
        return fake_llm(request)

    pipeline = build(MockAdapter(llm), ["fast", "slow"], concurrency=4)
    pipeline << Subtopics().scatter() << Question()
    result = await pipeline.build().execute()
    assert len(result.rows) == 6


async def test_a_barrier_waits_only_for_its_own_group() -> None:
    summary_started = asyncio.Event()

    async def llm(request: GenerationRequest) -> str:
        prompt = request.messages[-1].content
        if prompt.startswith("summarise"):
            summary_started.set()
        if prompt == "subtopics of late":
            await summary_started.wait()  # released only by the other row's summary
        return fake_llm(request)

    pipeline = build(MockAdapter(llm), ["early", "late"], concurrency=4)
    pipeline << Subtopics().scatter() << Question() << Answer().aggregate() << Summary()
    result = await pipeline.build().execute()
    assert sorted(row["topic"] for row in result.rows) == ["early", "late"]


async def test_deeper_steps_go_first() -> None:
    order: list[str] = []

    def llm(request: GenerationRequest) -> str:
        order.append(request.messages[-1].content)
        return fake_llm(request)

    pipeline = build(MockAdapter(llm), ["a", "b"], concurrency=1)
    pipeline << Subtopics().scatter() << Question()
    await pipeline.build().execute()
    assert order[0] == "subtopics of a"
    assert order[1:4] == [f"question on a-{n} in a" for n in range(3)]
    assert order[4] == "subtopics of b"


async def test_concurrency_bounds_requests_in_flight() -> None:
    in_flight = peak = 0

    async def llm(request: GenerationRequest) -> str:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await anyio.sleep(0)
        await anyio.sleep(0)
        in_flight -= 1
        return fake_llm(request)

    pipeline = build(MockAdapter(llm), [f"t{i}" for i in range(20)], concurrency=3)
    pipeline << Subtopics().scatter() << Question()
    result = await pipeline.build().execute()
    assert len(result.rows) == 60
    assert peak == 3


async def test_pending_work_stays_bounded_while_input_is_read_lazily() -> None:
    rows_read = 0

    def rows() -> list[dict[str, str]]:
        return [{"topic": f"t{i}"} for i in range(200)]

    class CountingRows(list[dict[str, str]]):
        def __iter__(self):  # type: ignore[no-untyped-def]
            nonlocal rows_read
            for row in super().__iter__():
                rows_read += 1
                yield row

    first_question = asyncio.Event()
    reads_at_first_question: list[int] = []

    async def llm(request: GenerationRequest) -> str:
        if request.messages[-1].content.startswith("question on") and not first_question.is_set():
            first_question.set()
            reads_at_first_question.append(rows_read)
        return fake_llm(request)

    config = PipelineConfig(progress=False, concurrency=4)
    pipeline = PipelineBuilder(config, MockAdapter(llm)).input(CountingRows(rows()))
    pipeline << Subtopics().scatter() << Question()
    built = pipeline.build()
    rows_read = 0  # input() and build() look at the rows; count only the run's reads
    result = await built.execute()
    assert len(result.rows) == 600
    # About `concurrency` rows had been read when the first deeper task started.
    assert reads_at_first_question[0] <= 4 + 1


async def test_cancelling_execute_leaves_no_task_running() -> None:
    running = 0
    two_running = asyncio.Event()

    async def llm(request: GenerationRequest) -> str:
        nonlocal running
        running += 1
        if running >= 2:
            two_running.set()
        try:
            await asyncio.Event().wait()
        finally:
            running -= 1
        return ""

    pipeline = build(MockAdapter(llm), ["a", "b", "c"], concurrency=2)
    pipeline << Subtopics()
    built = pipeline.build()
    task = asyncio.create_task(built.execute())
    await two_running.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert running == 0
