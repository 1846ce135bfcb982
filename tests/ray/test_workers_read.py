"""`RayRunner(read_inputs="workers")`: each shard reads the input files itself and keeps
its own rows, so the driver never holds (or ships) the input; same rows as a local run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from fanflow import ConfigurationError, OpenAIAdapter, PipelineBuilder, PipelineConfig, RayRunner
from fanflow.engine.pipeline import _ray_run
from fanflow.testing import MockServer
from tests.branch_steps import Answer, Questions
from tests.ray.ray_steps import server_handler


def qa(url: str, store: Path, source: Any) -> Any:
    config = PipelineConfig(progress=False, store=store, concurrency=8)
    builder = PipelineBuilder(config, OpenAIAdapter(url, model="mock-model"))
    builder.input(source, limit=9)
    builder << Questions().scatter() << Answer()
    return builder.build()


def rows_of(result: Any) -> list[bytes]:
    return sorted(orjson.dumps(row, option=orjson.OPT_SORT_KEYS) for row in result.rows)


async def test_shards_that_read_their_own_rows_give_a_local_runs_rows(
    ray_cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "topics.jsonl"
    source.write_bytes(b"".join(orjson.dumps({"topic": f"t{n}"}) + b"\n" for n in range(12)))
    shipped: list[Any] = []
    split = _ray_run._split
    monkeypatch.setattr(_ray_run, "_split", lambda *a: shipped.append(a) or split(*a))
    async with MockServer(server_handler) as server:
        local = await qa(server.base_url, tmp_path / "local.db", source).execute()
        runner = RayRunner(shards=3, read_inputs="workers")
        sharded = await qa(server.base_url, tmp_path / "ray.db", source).execute(runner=runner)
    assert shipped == []  # the driver split no rows: the shards read them
    assert rows_of(sharded) == rows_of(local) and len(local.rows) == 27
    assert sharded.stats.requests == local.stats.requests


async def test_workers_can_read_only_inputs_named_by_path(tmp_path: Path) -> None:
    pipeline = qa("http://127.0.0.1:9/v1", tmp_path / "s.db", [{"topic": "inline"}])
    with pytest.raises(ConfigurationError, match=r"read_inputs='workers'.*input 0.*rows"):
        await pipeline.execute(runner=RayRunner(shards=2, read_inputs="workers"))
    with pytest.raises(ConfigurationError, match="read_inputs"):
        RayRunner(shards=2, read_inputs="nodes")
