"""Sharded runs against a mock server: keys stay out of Ray, shards resume from their
stores, a dead worker's shard is retried, `store=False`, `PipelineConfig(runner=...)`."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest

import fanflow
from fanflow import OpenAIAdapter, PipelineBuilder, PipelineConfig, RayRunner
from fanflow.engine.pipeline._ray_run import _jobs, _split, shard_document
from fanflow.testing import MockServer
from tests.branch_steps import Answer, Questions
from tests.ray.conftest import RAY_KEY
from tests.ray.ray_steps import Summary, die_once, key_seen_by_worker, server_handler

TOPICS = [{"topic": f"t{n}"} for n in range(10)]


def qa(url: str, store: Any, rows: list[dict[str, Any]] = TOPICS, **config: Any) -> Any:
    settings = PipelineConfig(progress=False, store=store, concurrency=8, **config)
    adapter = OpenAIAdapter(base_url=url, model="mock-model", api_key=RAY_KEY)
    builder = PipelineBuilder(settings, adapter).input(rows)
    builder << Questions().scatter() << Answer()
    return builder.build()


async def test_the_key_never_travels_through_ray_and_workers_read_it_from_their_environment(
    ray_cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FANFLOW_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    async with MockServer(server_handler) as server:
        pipeline = qa(server.base_url, tmp_path / "s.db")
        document = shard_document(pipeline, 2)
        jobs = _jobs(document, tmp_path / "shards", 2, True, None)
        sent = pickle.dumps((jobs, _split(pipeline._rows(), 2)))
        assert RAY_KEY.encode() not in sent and b"sk-" not in sent
        seen = ray_cluster.remote(key_seen_by_worker).remote(jobs[0].document, RAY_KEY)
        assert await seen is True
        result = await pipeline.execute(runner=RayRunner(shards=2))
    assert len(result.rows) == 30 and server.requests_total == 40


async def test_a_rerun_sends_only_what_the_shards_did_not_save(
    ray_cluster: Any, tmp_path: Path
) -> None:
    broken = {"on": True}

    def flaky(body: dict[str, Any]) -> str:
        if broken["on"] and "q1" in body["messages"][-1]["content"]:
            raise RuntimeError("down for a while")
        return server_handler(body)

    async with MockServer(flaky) as server:
        runner = RayRunner(shards=2)
        first = await qa(server.base_url, tmp_path / "s.db", retry=None).execute(runner=runner)
        assert len(first.rows) == 20 and len(first.failures) == 10
        sent_first = server.requests_total
        broken["on"] = False
        second = await qa(server.base_url, tmp_path / "s.db", retry=None).execute(runner=runner)
    assert len(second.rows) == 30 and not second.failures
    assert server.requests_total - sent_first == 10  # only the failed ones again
    assert second.stats.from_store == 30 and second.stats.requests == 10
    assert [run.name for run in fanflow.runs(tmp_path / "s.db")][:1] == [second.run_name]


async def test_a_shard_whose_worker_dies_is_retried_and_resumes_from_its_store(
    ray_cluster: Any, tmp_path: Path
) -> None:
    marker = str(tmp_path / "died")
    rows = [{"topic": f"t{n}", "marker": marker} for n in range(6)]
    async with MockServer(server_handler) as server:
        settings = PipelineConfig(progress=False, store=tmp_path / "s.db", concurrency=2)
        adapter = OpenAIAdapter(base_url=server.base_url, model="mock-model")
        builder = PipelineBuilder(settings, adapter).input(rows)
        builder << Questions().scatter() << Answer() << die_once
        result = await builder.build().execute(runner=RayRunner(shards=2))
    assert Path(marker).exists()  # a worker died
    assert len(result.rows) == 18 and not result.failures
    # 24 tasks; the retried shard sent again at most those in flight when it died
    assert 24 <= server.requests_total <= 24 + 2


async def test_without_a_store_the_shards_use_a_temporary_folder(
    ray_cluster: Any, tmp_path: Path
) -> None:
    async with MockServer(server_handler) as server:
        result = await qa(server.base_url, False).execute(runner=RayRunner(shards=2))
    assert len(result.rows) == 30
    assert result.stats.tasks["ok"] == 40
    assert not (tmp_path / "shards").exists()


async def test_a_runner_in_the_config_is_the_default(ray_cluster: Any, tmp_path: Path) -> None:
    async with MockServer(server_handler) as server:
        pipeline = qa(server.base_url, tmp_path / "s.db", runner=RayRunner(shards=2))
        result = await pipeline.execute()
    assert len(result.rows) == 30
    assert list((tmp_path / "shards").glob("*/shard-*-of-2.db"))
    assert fanflow.load_run(result.run_name, tmp_path / "s.db").rows[:] == result.rows[:]


async def test_an_error_that_stops_a_shard_names_the_shard(
    ray_cluster: Any, tmp_path: Path
) -> None:
    rows = [{"topic": "FAIL"}]
    async with MockServer(server_handler) as server:
        pipeline = qa(server.base_url, tmp_path / "s.db", rows, on_error="raise", retry=None)
        with pytest.raises(fanflow.StepFailed, match=r"shard \d of 2 .*answer/0\.\d. failed"):
            await pipeline.execute(runner=RayRunner(shards=2))


async def test_after_a_barrier_the_driver_resends_nothing_the_shards_ran(
    ray_cluster: Any, tmp_path: Path
) -> None:
    rows = [*TOPICS, {"topic": "FAIL"}]  # its 3 answers fail: not to be sent again
    async with MockServer(server_handler) as server:
        settings = PipelineConfig(progress=False, store=tmp_path / "s.db", retry=None)
        adapter = OpenAIAdapter(base_url=server.base_url, model="mock-model")
        builder = PipelineBuilder(settings, adapter).input(rows)
        builder << Questions().scatter() << Answer().aggregate(by="all") << Summary()
        result = await builder.build().execute(runner=RayRunner(shards=2))
    assert len(result.rows) == 1 and len(result.failures) == 3
    assert server.requests_total == 11 + 33 + 1 == result.stats.requests
