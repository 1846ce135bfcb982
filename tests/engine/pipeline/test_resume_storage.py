"""What resuming costs the store: cached answers are referenced, never copied again.

Each test's store is a fresh file under tmp (`tests/conftest.py`), read here with sqlite3
to count what the runs added.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import fanflow
from fanflow import MockAdapter, PipelineBuilder, PipelineConfig, PipelineResult
from tests.engine.pipeline.pipeline_steps import Answer, Question, Subtopics
from tests.engine.pipeline.test_cache import TASKS, TOPICS, Model, qa


def rows(result: PipelineResult) -> list[dict[str, Any]]:
    return sorted(result.rows, key=lambda row: row["_lineage"])


def stored(path: Path) -> tuple[int, int]:
    """(result rows, bytes of answers, inputs and contexts in them) in the store's file."""
    with closing(sqlite3.connect(path)) as db:
        count, size = db.execute(
            "SELECT count(*), sum(length(result) + length(inputs) + length(context)) FROM results"
        ).fetchone()
    return count, size


async def test_resuming_a_finished_run_four_times_adds_no_copies_of_its_answers() -> None:
    adapter = MockAdapter(Model())
    first = await qa(adapter, run_name="qa").build().execute()
    path = fanflow.Store().path
    after_first = stored(path)

    resumed = [await qa(adapter, run_name="qa").build().execute() for _ in range(4)]

    assert adapter.calls == TASKS  # nothing sent again
    assert stored(path) == after_first  # no result row, no answer byte added
    for result in resumed:
        assert rows(result) == rows(first)
        assert result.stats.tasks["ok"] == TASKS
    records = fanflow.runs()
    assert len(records) == 5
    for record in records:
        assert rows(fanflow.load_run(record.id)) == rows(first)


async def test_a_reused_answer_reads_as_a_cache_hit_of_the_resumed_run() -> None:
    adapter = MockAdapter(Model())
    first = await qa(adapter, run_name="qa").build().execute()
    await qa(adapter, run_name="qa").build().execute()

    loaded = fanflow.load_run("qa")
    tasks = [r for step in loaded.steps.values() for r in step.results]
    assert len(tasks) == TASKS
    assert all(r.cached and r.requests == 0 and r.usage.total_tokens == 0 for r in tasks)
    originals = [r for step in first.steps.values() for r in step.results]
    assert [(r.task_id, r.result, r.inputs, r.context) for r in tasks] == [
        (r.task_id, r.result, r.inputs, r.context) for r in originals
    ]


async def test_only_the_tasks_that_failed_before_add_rows_when_resumed() -> None:
    await qa(MockAdapter(Model(fail_when="t3")), run_name="qa").build().execute()
    path = fanflow.Store().path
    count, _ = stored(path)
    failed_subtree = 1  # subtopics of t3 failed, so its questions and answers never ran

    resumed = await qa(MockAdapter(Model()), run_name="qa").build().execute()

    assert len(resumed.rows) == TOPICS * 3
    new_rows = stored(path)[0] - count
    assert new_rows == failed_subtree + 2 * 3  # t3's subtopics, questions and answers


async def test_a_reused_answer_keeps_the_new_runs_own_fields() -> None:
    # The first step's prompt reads `topic` only, so its answers are reused; `source` is
    # another field of the row, and the resumed run's rows show its own value.
    adapter = MockAdapter(Model())

    def pipeline(source: str) -> PipelineBuilder:
        builder = PipelineBuilder(PipelineConfig(progress=False, retry=None), adapter)
        builder.input([{"topic": f"t{i}", "source": source} for i in range(TOPICS)])
        builder << Subtopics(name="subtopics").scatter() << Question(name="question")
        builder << Answer(name="answer")
        return builder

    await pipeline("wiki").build().execute()
    again = await pipeline("books").build().execute()

    assert adapter.calls == TASKS
    assert {row["source"] for row in again.rows} == {"books"}
    assert {row["source"] for row in fanflow.load_run(again.run_name or "").rows} == {"books"}


async def test_clearing_the_run_that_holds_the_answers_keeps_the_runs_that_reused_them() -> None:
    adapter = MockAdapter(Model())
    expected = rows(await qa(adapter, run_name="first").build().execute())
    second = await qa(adapter, run_name="second").build().execute()
    store = fanflow.Store()
    try:
        store.clear(store.find_run("first").id)
    finally:
        store.close()

    assert rows(fanflow.load_run("second")) == expected
    assert fanflow.load_run("first").rows == []
    await qa(adapter, run_name="third").build().execute()
    assert adapter.calls == TASKS  # the second run's answers are still the cache
    assert rows(second) == expected


async def test_a_store_made_before_references_existed_still_opens_reads_and_resumes() -> None:
    adapter = MockAdapter(Model())
    first = await qa(adapter, run_name="old").build().execute()
    path = fanflow.Store().path
    with closing(sqlite3.connect(path)) as db, db:  # as an earlier version left it
        db.execute("DROP TABLE reused")

    assert rows(fanflow.load_run("old")) == rows(first)
    resumed = await qa(adapter, run_name="old").build().execute()
    assert adapter.calls == TASKS
    assert rows(resumed) == rows(first)
