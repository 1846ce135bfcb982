"""A pipeline run on Ray in 1, 2 and 4 shards gives the rows of a local run, `_lineage`
included: chains with scatter, branches and a join, a route, function steps, barriers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from fanflow import MockAdapter, PipelineBuilder, PipelineConfig, PipelineResult, RayRunner, Route
from tests.branch_steps import Answer, Judge, Questions
from tests.ray.ray_steps import AnswerAll, Summary, count_all, fake_llm, shout

TOPICS = [{"topic": f"t{n}"} for n in range(7)] + [{"topic": "FAIL"}]


def chain(builder: PipelineBuilder) -> None:
    builder << Questions().scatter() << Answer()


def branches_and_join(builder: PipelineBuilder) -> None:
    branches = [Answer(name=n).set_models([n]) for n in ("llama", "qwen")]
    builder << Questions().scatter() << branches << Judge()


def route(builder: PipelineBuilder) -> None:
    models = [Answer(name=n).set_models([n]) for n in ("llama", "qwen", "mistral")]
    builder << Questions().scatter() << Route(models, pick=1, seed=7)


def function_step(builder: PipelineBuilder) -> None:
    builder << Questions().scatter() << Answer() << shout


def aggregate_all(builder: PipelineBuilder) -> None:
    builder << Questions().scatter() << Answer().aggregate(by="all") << Summary()


def group_all(builder: PipelineBuilder) -> None:
    builder << Questions().scatter() << Answer() << count_all


def custom_callback(builder: PipelineBuilder) -> None:
    builder << Questions().scatter() << AnswerAll().custom() << Summary()


def build(shape: Callable[[PipelineBuilder], None], store: Path, **config: Any) -> Any:
    settings = PipelineConfig(progress=False, store=store, concurrency=8, **config)
    builder = PipelineBuilder(settings, MockAdapter(fake_llm)).input(TOPICS)
    shape(builder)
    return builder.build()


def rows_of(result: PipelineResult) -> list[bytes]:
    """Each leaf's rows as canonical JSON, sorted: a multiset that ignores order."""
    subsets = result.subsets if len(result.subsets) > 1 else {"": result}
    return sorted(
        orjson.dumps([leaf, row], option=orjson.OPT_SORT_KEYS)
        for leaf, part in subsets.items()
        for row in part.rows
    )


@pytest.mark.parametrize(
    "shape",
    [chain, branches_and_join, route, function_step, aggregate_all, group_all, custom_callback],
)
async def test_shards_give_the_rows_of_a_local_run(
    ray_cluster: Any, tmp_path: Path, shape: Callable[[PipelineBuilder], None]
) -> None:
    local = await build(shape, tmp_path / "local.db").execute()
    expected = rows_of(local)
    assert expected
    for shards in (1, 2, 4):
        pipeline = build(shape, tmp_path / f"ray{shards}.db")
        result = await pipeline.execute(runner=RayRunner(shards=shards))
        assert rows_of(result) == expected, f"{shards} shards"
        assert result.stats.tasks == local.stats.tasks
        assert result.stats.requests == local.stats.requests
        failures = sorted(failure.task_id for failure in result.failures)
        assert failures == sorted(failure.task_id for failure in local.failures)
        shard_files = list((tmp_path / "shards").glob(f"*/shard-*-of-{shards}.db"))
        assert 1 <= len(shard_files) <= shards  # the shards ran there (a shard may get no row)


def test_run_uses_the_runner_of_the_config(ray_cluster: Any, tmp_path: Path) -> None:
    local = build(chain, tmp_path / "local.db").run()
    on_ray = build(chain, tmp_path / "ray.db", runner=RayRunner(shards=2)).run()
    assert rows_of(on_ray) == rows_of(local)
    assert list((tmp_path / "shards").glob("*/shard-*-of-2.db"))
