"""The store as a cache: re-running a pipeline resumes, changed steps re-send what they must.

Pipelines run on `MockAdapter`, so `calls` counts exactly what was sent; each test's store is
a fresh file under tmp (see `tests/conftest.py`).
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import orjson
import pytest

import fanflow
from fanflow import (
    GenerationRequest,
    MockAdapter,
    PipelineBuilder,
    PipelineConfig,
    PipelineResult,
    StepTemplate,
    TaskStatus,
    Workflow,
)
from tests.engine.pipeline.pipeline_steps import Answer, Question, Subtopics

TOPICS = 4
SUBTOPICS = 3
TASKS = TOPICS * (1 + 2 * SUBTOPICS)  # subtopics, then a question and an answer per subtopic


class Model:
    """A deterministic mock model for the `pipeline_steps` prompts that records every prompt."""

    def __init__(self, fail_when: str | None = None, variant: str = "") -> None:
        self.prompts: list[str] = []
        self.fail_when = fail_when
        self.variant = variant  # changes the subtopics it lists
        self._calls_awaited: list[tuple[int, asyncio.Event]] = []

    def called(self, times: int) -> asyncio.Event:
        """An event set once the model has been asked `times` times."""
        event = asyncio.Event()
        self._calls_awaited.append((times, event))
        return event

    def __call__(self, request: GenerationRequest) -> str:
        prompt = request.messages[-1].content
        self.prompts.append(prompt)
        for times, event in self._calls_awaited:
            if len(self.prompts) >= times:
                event.set()
        if self.fail_when is not None and self.fail_when in prompt:
            raise ValueError(f"the model refuses {prompt!r}")
        if match := re.fullmatch(r"(?:list )?subtopics of (.+)", prompt):
            names = [f"{match[1]}-{self.variant}{n}" for n in range(SUBTOPICS)]
            return orjson.dumps(names).decode()
        if match := re.fullmatch(r"(?:ask a )?question on (.+) in (.+)", prompt):
            return f"Q({match[1]})" if prompt.startswith("question") else f"Q2({match[1]})"
        if match := re.fullmatch(r"(.+?) (.+)", prompt):
            return f"{match[1]}({match[2]})"
        return f"?({prompt})"


class ListSubtopics(StepTemplate):
    """`Subtopics` with another prompt."""

    def create_workflow(self, topic: str) -> Workflow:
        return Workflow.from_prompt("list subtopics of {{topic}}", topic=topic)


class AskQuestion(StepTemplate):
    """`Question` with another prompt (and so other questions)."""

    def create_workflow(self, topic: str, subtopic: str) -> Workflow:
        prompt = "ask a question on {{subtopic}} in {{topic}}"
        return Workflow.from_prompt(prompt, topic=topic, subtopic=subtopic)


class Reply(StepTemplate):
    """`Answer` with another prompt."""

    def create_workflow(self, question: str) -> Workflow:
        return Workflow.from_prompt("reply {{question}}", question=question)


def qa(
    adapter: MockAdapter,
    first: StepTemplate | None = None,
    middle: StepTemplate | None = None,
    last: StepTemplate | None = None,
    **config: Any,
) -> PipelineBuilder:
    settings = PipelineConfig(progress=False, retry=None, **config)
    builder = PipelineBuilder(settings, adapter)
    builder.input([{"topic": f"t{i}"} for i in range(TOPICS)])
    builder << (first or Subtopics(name="subtopics")).scatter()
    builder << (middle or Question(name="question")) << (last or Answer(name="answer"))
    return builder


def rows(result: PipelineResult) -> list[dict[str, Any]]:
    return sorted(result.rows, key=lambda row: row["_lineage"])


async def test_running_the_same_pipeline_again_sends_nothing() -> None:
    adapter = MockAdapter(Model())
    first = await qa(adapter).build().execute()
    assert adapter.calls == TASKS
    assert len(first.rows) == TOPICS * SUBTOPICS

    second = await qa(adapter).build().execute()
    assert adapter.calls == TASKS  # nothing sent again
    assert rows(second) == rows(first)
    tasks = [r for step in second.steps.values() for r in step.results]
    assert len(tasks) == TASKS
    assert all(task.cached and task.ok for task in tasks)
    assert second.stats.requests == 0
    assert second.stats.tasks["ok"] == TASKS


async def test_a_new_pipeline_object_on_a_new_adapter_also_hits_the_cache() -> None:
    await qa(MockAdapter(Model())).build().execute()
    fresh = MockAdapter(Model())
    await qa(fresh).build().execute()
    assert fresh.calls == 0


async def test_use_cache_false_sends_everything_again() -> None:
    adapter = MockAdapter(Model())
    pipeline = qa(adapter).build()
    first = await pipeline.execute()
    second = await pipeline.execute(use_cache=False)

    assert adapter.calls == 2 * TASKS
    assert rows(second) == rows(first)
    assert not any(r.cached for step in second.steps.values() for r in step.results)
    assert second.stats.requests == TASKS


class Seed(StepTemplate):
    def create_workflow(self, topic: str) -> Workflow:
        return Workflow.from_prompt("seed {{topic}}", topic=topic)


class Joke(StepTemplate):
    def create_workflow(self, topic: str) -> Workflow:
        return Workflow.from_prompt("a joke about {{topic}}", topic=topic)


async def test_broadcast_of_one_prompt_sends_and_caches_each_copy() -> None:
    jokes = 0

    def model(request: GenerationRequest) -> str:
        nonlocal jokes
        if request.messages[-1].content.startswith("a joke"):
            jokes += 1
            return f"joke number {jokes}"
        return "seed"

    def pipeline(adapter: MockAdapter) -> PipelineBuilder:
        config = PipelineConfig(progress=False, retry=None)
        builder = PipelineBuilder(config, adapter).input(topic="cats")
        builder << Seed().broadcast(3) << Joke()
        return builder

    adapter = MockAdapter(model)
    first = await pipeline(adapter).build().execute()
    assert adapter.calls == 4  # one seed, then three identical prompts, three requests
    assert sorted(row["joke"] for row in first.rows) == [f"joke number {n}" for n in (1, 2, 3)]

    again = MockAdapter(model)
    second = await pipeline(again).build().execute()
    assert again.calls == 0
    assert len(second.rows) == 3
    assert rows(second) == rows(first)  # each copy got its own answer back, not one thrice


async def test_changing_the_last_step_resends_only_that_step() -> None:
    await qa(MockAdapter(Model())).build().execute()

    model = Model()
    adapter = MockAdapter(model)
    result = await qa(adapter, last=Reply(name="answer")).build().execute()

    assert adapter.calls == TOPICS * SUBTOPICS
    assert all(prompt.startswith("reply ") for prompt in model.prompts)
    assert rows(result)[0]["answer"] == "reply(Q(t0-0))"


async def test_changing_a_middle_step_resends_it_and_below_but_nothing_upstream() -> None:
    await qa(MockAdapter(Model())).build().execute()

    model = Model()
    adapter = MockAdapter(model)
    result = await qa(adapter, middle=AskQuestion(name="question")).build().execute()

    assert adapter.calls == 2 * TOPICS * SUBTOPICS  # questions and answers, no subtopics
    assert not any("subtopics" in prompt for prompt in model.prompts)
    assert rows(result)[0]["answer"] == "answer(Q2(t0-0))"


async def test_changing_the_first_step_resends_everything_below_when_its_answers_change() -> None:
    first = await qa(MockAdapter(Model())).build().execute()

    model = Model(variant="v")
    adapter = MockAdapter(model)
    result = await qa(adapter, first=ListSubtopics(name="subtopics")).build().execute()

    assert adapter.calls == TASKS
    assert {row["subtopic"] for row in result.rows} == {
        f"t{i}-v{n}" for i in range(TOPICS) for n in range(SUBTOPICS)
    }
    assert rows(result) != rows(first)


async def test_changing_the_first_step_with_the_same_answers_resends_only_that_step() -> None:
    first = await qa(MockAdapter(Model())).build().execute()

    model = Model()
    adapter = MockAdapter(model)
    result = await qa(adapter, first=ListSubtopics(name="subtopics")).build().execute()

    assert adapter.calls == TOPICS
    assert all(prompt.startswith("list subtopics") for prompt in model.prompts)
    assert rows(result) == rows(first)


async def test_failed_tasks_are_sent_again_on_the_next_run() -> None:
    sick = MockAdapter(Model(fail_when="t1-2"))
    first = await qa(sick).build().execute()
    failed = [f.task_id for f in first.failures]
    assert failed == ["question/1.2"]  # its answer was never created
    assert len(first.rows) == TOPICS * SUBTOPICS - 1

    model = Model()
    healthy = MockAdapter(model)
    second = await qa(healthy).build().execute()
    assert healthy.calls == 2  # the failed question, then its answer
    assert model.prompts == ["question on t1-2 in t1", "answer Q(t1-2)"]
    assert not second.failures
    assert rows(second) == rows(await qa(MockAdapter(Model())).build().execute(use_cache=False))


async def test_load_run_returns_the_rows_and_stats_without_sending() -> None:
    adapter = MockAdapter(Model())
    result = await qa(adapter, run_name="nightly").build().execute()

    loaded = fanflow.load_run("nightly")
    assert adapter.calls == TASKS
    assert loaded.run_name == "nightly"
    assert rows(loaded) == rows(result)
    assert loaded.stats == result.stats
    assert loaded.stats.requests == TASKS
    assert {name: len(step.results) for name, step in loaded.steps.items()} == {
        "subtopics": TOPICS,
        "question": TOPICS * SUBTOPICS,
        "answer": TOPICS * SUBTOPICS,
    }


async def test_a_named_run_resumed_is_loaded_by_its_name() -> None:
    sick = MockAdapter(Model(fail_when="t2-"))
    await qa(sick, run_name="resumable").build().execute()
    healthy = MockAdapter(Model())
    second = await qa(healthy, run_name="resumable").build().execute()

    loaded = fanflow.load_run("resumable")
    assert len(loaded.rows) == TOPICS * SUBTOPICS
    assert rows(loaded) == rows(second)
    assert fanflow.runs()[0].name == "resumable"


async def test_runs_lists_finished_runs_newest_first_with_status_ok() -> None:
    for name in ("first", "second"):
        await qa(MockAdapter(Model()), run_name=name).build().execute()

    records = fanflow.runs()
    assert [r.name for r in records] == ["second", "first"]
    assert {r.status for r in records} == {"ok"}
    assert records[0].steps == ["subtopics", "question", "answer"]
    assert records[0].stats["tasks"]["ok"] == TASKS
    assert records[0].config["concurrency"] == 64
    assert records[0].ended_at is not None


async def test_runs_without_a_name_get_one_from_the_first_step() -> None:
    result = await qa(MockAdapter(Model())).build().execute()
    (record,) = fanflow.runs()
    assert record.name == result.run_name
    assert record.name.startswith("subtopics-")


async def test_store_false_keeps_results_in_memory_and_writes_no_file(tmp_path: Path) -> None:
    adapter = MockAdapter(Model())
    result = await qa(adapter, store=False).build().execute()
    again = await qa(adapter, store=False).build().execute()

    assert adapter.calls == 2 * TASKS  # no cache without a store
    assert len(result.rows) == TOPICS * SUBTOPICS
    assert rows(again) == rows(result)
    assert len(result.steps["question"].results) == TOPICS * SUBTOPICS
    assert list(tmp_path.iterdir()) == []  # FANFLOW_STORE points here: nothing was written


async def test_a_store_path_in_the_config_is_used(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "results.db"
    await qa(MockAdapter(Model()), store=path, run_name="here").build().execute()

    assert path.exists()
    assert not (tmp_path / "fanflow.db").exists()
    assert len(fanflow.load_run("here", store=path).rows) == TOPICS * SUBTOPICS


async def test_a_cancelled_run_is_recorded_as_interrupted_and_says_how_to_resume(
    caplog: pytest.LogCaptureFixture,
) -> None:
    model = Model()
    sixth_call = model.called(6)
    adapter = MockAdapter(model, latency=0.01)
    pipeline = qa(adapter, concurrency=2, run_name="cut short").build()
    task = asyncio.ensure_future(pipeline.execute())
    await sixth_call.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    sent = adapter.calls

    (record,) = fanflow.runs()
    assert (record.name, record.status) == ("cut short", "interrupted")
    assert record.ended_at is not None
    saved = sum(record.stats["tasks"].values())
    assert 0 < saved < TASKS
    (hint,) = [r for r in caplog.records if r.name == "fanflow.run"]
    assert hint.levelname == "WARNING"
    assert "'cut short' interrupted" in hint.getMessage()
    assert f"{saved} finished tasks are saved" in hint.getMessage()
    assert "Run the same pipeline again to resume" in hint.getMessage()

    resumed = await qa(adapter, concurrency=2, run_name="cut short").build().execute()
    assert len(resumed.rows) == TOPICS * SUBTOPICS
    assert adapter.calls - sent == TASKS - saved  # only what was not saved is sent again
    assert fanflow.runs()[0].status == "ok"


def store_with_trigger(trigger: str) -> Path:
    """The store every run of the test uses (FANFLOW_STORE), with a trigger on its results."""
    store = fanflow.Store()
    store.close()
    with closing(sqlite3.connect(store.path)) as other, other:
        other.execute(trigger)
    return store.path


async def test_results_cut_off_while_being_saved_count_once_their_commit_lands(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Every insert takes a while, so the run is cancelled with commits under way.
    path = store_with_trigger(
        "CREATE TRIGGER slow BEFORE INSERT ON results BEGIN SELECT count(*) FROM "
        "(WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000)"
        " SELECT x FROM c); END"
    )
    model = Model()
    twelfth_call = model.called(12)
    adapter = MockAdapter(model)
    task = asyncio.ensure_future(qa(adapter, concurrency=8, run_name="cut").build().execute())
    await twelfth_call.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    with closing(sqlite3.connect(path)) as other:
        (on_disk,) = other.execute("SELECT count(*) FROM results").fetchone()
    counted = sum(fanflow.runs()[0].stats["tasks"].values())
    assert 0 < on_disk < TASKS
    assert counted == on_disk
    assert f"{on_disk} finished tasks are saved" in caplog.text


async def test_a_step_that_raises_is_recorded_as_failed() -> None:
    adapter = MockAdapter(Model(fail_when="t0-1"))
    with pytest.raises(fanflow.StepFailed):
        await qa(adapter, on_error="raise", concurrency=1, run_name="strict").build().execute()
    assert fanflow.load_run("strict") is not None
    assert fanflow.runs()[0].status == "failed"


async def test_the_failed_tasks_of_a_run_are_stored_with_their_reason() -> None:
    await qa(MockAdapter(Model(fail_when="t3")), run_name="sick").build().execute()
    loaded = fanflow.load_run("sick")
    assert [f.task_id for f in loaded.failures] == ["subtopics/3"]
    assert loaded.failures[0].status is TaskStatus.FAILED
    assert "the model refuses" in (loaded.failures[0].error or "")


async def test_a_store_that_cannot_write_fails_the_run_with_one_execution_error_and_loses_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = store_with_trigger(
        "CREATE TRIGGER refuse BEFORE INSERT ON results "
        "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
    )

    adapter = MockAdapter(Model())
    with pytest.raises(fanflow.ExecutionError, match="disk says no") as caught:
        await qa(adapter, concurrency=4, run_name="no disk").build().execute()
    assert "IntegrityError: disk says no" in str(caught.value.__cause__)  # one error, no group
    assert "run again to resume" in str(caught.value)
    assert fanflow.runs()[0].status == "failed"
    assert "'no disk' failed;" in caplog.text
    sent = adapter.calls

    # What was answered waits in the store's log; once the file takes writes again, the
    # next run commits it and sends only what was in flight when the run stopped.
    with closing(sqlite3.connect(path)) as other, other:
        other.execute("DROP TRIGGER refuse")
    resumed = await qa(adapter, concurrency=4, run_name="no disk").build().execute()
    assert len(resumed.rows) == TOPICS * SUBTOPICS
    assert adapter.calls - sent <= 4
