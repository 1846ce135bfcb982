"""Barriers over a whole step run in the driver between sharded parts: the tasks below a
barrier run as shards again (never in the driver), with a local run's rows and counts."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fanflow import (
    MockAdapter,
    OpenAIAdapter,
    PipelineBuilder,
    PipelineConfig,
    RayRunner,
    StepOutput,
    TaskInput,
)
from fanflow.testing import MockServer
from tests.branch_steps import Answer, Judge, Questions
from tests.ray.ray_steps import AnswerAll, Expand, Summary, fake_llm, server_handler
from tests.ray.test_same_rows import TOPICS, rows_of


class EachAnswer(Answer):
    """A barrier over the whole step that gives one next task per answer, sorted (as a
    dedupe over every shard's results would): many tasks below the barrier."""

    def callback(self, step: StepOutput) -> list[TaskInput]:
        answers = sorted(result.result for result in step.output)
        return [TaskInput(topic=answer.replace(" ", "_")) for answer in answers]


class EachQuestion(Answer):
    """As `EachAnswer`, each answer becoming a question for the branches below."""

    def callback(self, step: StepOutput) -> list[TaskInput]:
        return [TaskInput(question=answer) for answer in sorted(r.result for r in step.output)]


def branches_below(builder: PipelineBuilder) -> None:
    """Below the barrier: branches and their join (a subtree stays in one shard)."""
    branches = [Answer(name=n).set_models([n]) for n in ("llama", "qwen")]
    builder << Questions().scatter() << EachQuestion().custom() << branches << Judge()


def aggregate_then_scatter(builder: PipelineBuilder) -> None:
    builder << Questions().scatter() << Answer().aggregate(by="all")
    builder << Expand().scatter("question") << Answer(name="answer2")


def custom_then_step(builder: PipelineBuilder) -> None:
    builder << Questions().scatter() << EachAnswer().custom()
    builder << Questions(name="questions2").scatter() << Answer(name="answer2")


def custom_one_then_scatter(builder: PipelineBuilder) -> None:
    builder << Questions().scatter() << AnswerAll().custom()
    builder << Expand().scatter("question") << Answer(name="answer2")


def two_barriers(builder: PipelineBuilder) -> None:
    builder << Questions().scatter() << Answer().aggregate(by="all")
    builder << Expand().scatter("question") << Answer(name="answer2").aggregate(by="all")
    builder << Summary()


def by_root_below(builder: PipelineBuilder) -> None:
    """Below `by="all"`, a by-root group is the whole step too (its root is the barrier's)."""
    builder << Questions().scatter() << Answer().aggregate(by="all")
    builder << Expand().scatter("question") << Answer(name="answer2").aggregate(by="root")
    builder << Summary()


def build(shape: Callable[[PipelineBuilder], None], store: Path, adapter: Any = None) -> Any:
    settings = PipelineConfig(progress=False, store=store, concurrency=8, retry=None)
    builder = PipelineBuilder(settings, adapter or MockAdapter(fake_llm)).input(TOPICS)
    shape(builder)
    return builder.build()


def saved(path: Path, status: str = "%") -> dict[str, int]:
    """Results a store file holds, by step (of every status, else of `status`)."""
    with sqlite3.connect(path) as connection:
        query = "SELECT step, count(*) FROM results WHERE status LIKE ? GROUP BY step"
        return {str(step): int(count) for step, count in connection.execute(query, (status,))}


@pytest.mark.parametrize(
    "shape",
    [
        aggregate_then_scatter,
        custom_then_step,
        custom_one_then_scatter,
        two_barriers,
        by_root_below,
        branches_below,
    ],
)
async def test_tasks_below_a_barrier_run_as_shards_with_a_local_runs_rows(
    ray_cluster: Any, tmp_path: Path, shape: Callable[[PipelineBuilder], None]
) -> None:
    local = await build(shape, tmp_path / "local.db").execute()
    expected = rows_of(local)
    assert expected and local.failures
    for shards in (1, 2, 4):
        result = await build(shape, tmp_path / f"ray{shards}.db").execute(
            runner=RayRunner(shards=shards)
        )
        assert rows_of(result) == expected, f"{shards} shards"
        assert result.stats.tasks == local.stats.tasks
        assert result.stats.steps == local.stats.steps
        assert result.stats.requests == local.stats.requests
        assert result.stats.usage == local.stats.usage
        assert result.stats.cost == local.stats.cost
        failures = sorted(failure.task_id for failure in result.failures)
        assert failures == sorted(failure.task_id for failure in local.failures)
        # Every task below the barrier was saved by a shard of a later part.
        last = "judge" if "judge" in local.stats.steps else "answer2"
        parts = (tmp_path / "shards").glob(f"*/shard-*-of-{shards}-part-*.db")
        in_parts = sum(saved(path).get(last, 0) for path in parts)
        assert in_parts == sum(local.stats.steps[last].values())


async def test_tasks_below_a_barrier_run_in_several_shards_and_none_in_the_driver(
    ray_cluster: Any, tmp_path: Path
) -> None:
    async with MockServer(server_handler) as server:
        adapter = OpenAIAdapter(base_url=server.base_url, model="mock-model")
        local = await build(aggregate_then_scatter, tmp_path / "local.db", adapter).execute()
        sent_locally = server.requests_total
        pipeline = build(aggregate_then_scatter, tmp_path / "ray.db", adapter)
        result = await pipeline.execute(runner=RayRunner(shards=4))
    # Each task sent once, all by shards: the driver's store got them from the shard files.
    assert server.requests_total - sent_locally == sent_locally == result.stats.requests
    assert rows_of(result) == rows_of(local)
    files = sorted((tmp_path / "shards").glob("*/shard-*-of-4*.db"))
    by_file = {path.name: saved(path) for path in files}
    expand_parts = [name for name, steps in by_file.items() if "expand" in steps]
    answer2_parts = [name for name, steps in by_file.items() if "answer2" in steps]
    assert len(expand_parts) == 1 and "-part-1" in expand_parts[0]  # one task: one shard
    assert len(answer2_parts) >= 2 and all("-part-2" in name for name in answer2_parts)
    assert sum(by_file[name]["answer2"] for name in answer2_parts) == 12


async def test_a_rerun_sends_only_the_failed_tasks_below_the_barrier(
    ray_cluster: Any, tmp_path: Path
) -> None:
    broken = {"on": True}

    def flaky(body: dict[str, Any]) -> str:
        prompt = body["messages"][-1]["content"]
        if broken["on"] and prompt.startswith("answer 21_answers-q") and prompt.endswith("1"):
            raise RuntimeError("down for a while")  # q1 and q11 below the barrier
        return server_handler(body)

    async with MockServer(flaky) as server:
        adapter = OpenAIAdapter(base_url=server.base_url, model="mock-model")
        first = await build(aggregate_then_scatter, tmp_path / "s.db", adapter).execute(
            runner=RayRunner(shards=2)
        )
        failed_first = sorted(failure.task_id for failure in first.failures)
        sent_first = server.requests_total
        broken["on"] = False
        second = await build(aggregate_then_scatter, tmp_path / "s.db", adapter).execute(
            runner=RayRunner(shards=2)
        )
    failed_second = sorted(failure.task_id for failure in second.failures)
    assert len(failed_first) == len(failed_second) + 2  # the two below the barrier now pass
    assert server.requests_total - sent_first == 2 + len(failed_second)  # failed ones only
    assert second.stats.requests == 2 + len(failed_second)
    # The shards sent them again: 8 answered in the first run, 2 in the second.
    parts = (tmp_path / "shards").glob("*/shard-*-of-2-part-*.db")
    assert sum(saved(path, "ok").get("answer2", 0) for path in parts) == 8 + 2


async def test_without_a_store_the_parts_use_a_temporary_folder(
    ray_cluster: Any, tmp_path: Path
) -> None:
    local = await build(two_barriers, tmp_path / "local.db").execute()
    settings = PipelineConfig(progress=False, store=False, concurrency=8, retry=None)
    builder = PipelineBuilder(settings, MockAdapter(fake_llm)).input(TOPICS)
    two_barriers(builder)
    result = await builder.build().execute(runner=RayRunner(shards=2))
    assert rows_of(result) == rows_of(local)
    assert result.stats.tasks == local.stats.tasks
    assert not (tmp_path / "shards").exists()
