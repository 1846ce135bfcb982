"""Sharding without Ray: which shard a row goes to, each shard's part of every limit, the
`RayRunner` value in a config and a pipeline file, and `import fanflow` without Ray."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fanflow import (
    ConfigurationError,
    MockAdapter,
    OpenAIAdapter,
    PipelineBuilder,
    PipelineConfig,
    RayRunner,
    load_pipeline,
)
from fanflow.engine.pipeline._ray_shards import divide_config, divide_limits, shard_of, shards_for
from tests.engine.pipeline.test_graph import Answer, Questions


def test_a_row_goes_to_the_same_shard_whatever_its_key_order_and_process() -> None:
    row = {"topic": "physics", "level": 3, "tags": ["a", "b"]}
    reordered = {"tags": ["a", "b"], "level": 3, "topic": "physics"}
    assert shard_of(row, 4) == shard_of(reordered, 4)
    code = "from fanflow.engine.pipeline._ray_shards import shard_of; print(shard_of(%r, 4))"
    other = subprocess.run(
        [sys.executable, "-c", code % row], capture_output=True, text=True, check=True
    )
    assert int(other.stdout) == shard_of(row, 4)  # not Python's salted hash


def test_rows_spread_over_every_shard() -> None:
    counts = [0] * 4
    for n in range(400):
        counts[shard_of({"topic": f"t{n}"}, 4)] += 1
    assert all(60 < count < 140 for count in counts)


def test_limits_are_divided_so_the_parts_never_exceed_the_whole() -> None:
    network = {
        "adapter": "RateLimiter",
        "max_in_flight": 10,
        "requests_per_minute": 600.0,
        "tokens_per_minute": 90000,
        "use_headers": True,
        "wrapped": {
            "adapter": "EndpointPool",
            "endpoints": [
                {
                    "adapter": {"adapter": "OpenAIAdapter", "max_connections": 64},
                    "max_in_flight": 7,
                },
                {"adapter": {"adapter": "OpenAIAdapter"}, "max_in_flight": None},
            ],
        },
    }
    divided = divide_limits(network, 3)
    assert divided["max_in_flight"] == 3  # 10 // 3: 9 in all
    assert divided["requests_per_minute"] == 200.0
    assert divided["tokens_per_minute"] == 30000.0
    assert divided["use_headers"] is True
    first, second = divided["wrapped"]["endpoints"]
    assert first["max_in_flight"] == 2 and first["adapter"]["max_connections"] == 21
    assert second["max_in_flight"] is None
    assert network["max_in_flight"] == 10  # a copy: the given one is unchanged


def test_concurrency_and_budgets_are_divided_among_shards() -> None:
    config = PipelineConfig(concurrency=10, max_cost=3.0, max_tokens_total=1001).model_dump()
    divided = divide_config(config, 4)
    assert (divided["concurrency"], divided["max_cost"], divided["max_tokens_total"]) == (
        2, 0.75, 250,
    )  # fmt: skip
    assert divide_config(PipelineConfig(concurrency=3).model_dump(), 2)["max_cost"] is None


def test_a_limit_smaller_than_the_shards_gives_one_each_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert divide_limits({"max_in_flight": 2}, 4) == {"max_in_flight": 1}
    assert "4 in all" in caplog.text


def test_more_shards_than_the_concurrency_are_cut_to_it(caplog: pytest.LogCaptureFixture) -> None:
    assert shards_for(4, 64) == 4
    assert shards_for(8, 3) == 3
    assert "running 3 shards" in caplog.text


def test_a_runner_in_the_config_is_written_to_a_pipeline_file_and_read_back(
    tmp_path: Path,
) -> None:
    runner = RayRunner(shards=4, num_cpus=2, runtime_env={"working_dir": "."})
    assert runner.init_kwargs == {"runtime_env": {"working_dir": "."}}
    config = PipelineConfig(progress=False, store=False, runner=runner)
    adapter = OpenAIAdapter(base_url="http://127.0.0.1:9/v1", model="m")
    builder = PipelineBuilder(config, adapter).input(topic="t")
    builder << Questions().scatter() << Answer()
    path = builder.build().dump(tmp_path / "p.yaml")
    assert load_pipeline(path).config.runner == runner


def test_a_bad_runner_setting_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="shards"):
        RayRunner(shards=0)


async def test_a_network_that_cannot_be_written_cannot_run_on_ray() -> None:
    config = PipelineConfig(progress=False, store=False)
    builder = PipelineBuilder(config, MockAdapter(lambda request: "x")).input(topic="t")
    builder << Questions()
    with pytest.raises(ConfigurationError, match="runs on Ray as its pipeline file"):
        await builder.build().execute(runner=RayRunner(shards=2))


def test_importing_fanflow_does_not_import_ray() -> None:
    code = "import sys, fanflow; assert 'ray' not in sys.modules, 'ray imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


async def test_progress_sums_the_shards_saved_tasks_and_keeps_finished_shards(
    tmp_path: Path,
) -> None:
    from fanflow import TaskResult, TaskStatus
    from fanflow.engine.pipeline._ray_progress import ShardProgress
    from fanflow.engine.pipeline._ray_worker import ShardJob
    from fanflow.store import Store

    jobs = [
        ShardJob(i, 2, b"{}", str(tmp_path / f"shard-{i}.db"), f"run-{i}", True, False)
        for i in range(2)
    ]
    progress = ShardProgress(["a", "b"], jobs, rows=5, enabled=False)
    store = Store(jobs[0].store)
    store.start_run("r0", "run-0", "f", {}, ["a", "b"])
    for n in range(3):
        status = TaskStatus.FAILED if n == 2 else TaskStatus.OK
        await store.put("r0", 0, f"k{n}", TaskResult("a", (n,), {}, {}, status=status))
    progress.poll()
    assert (progress.counts[0].done, progress.counts[0].failed, progress.counts[0].created) == (
        3, 1, 5,
    )  # fmt: skip
    progress.finished(1, {"a": {"ok": 2}, "b": {"ok": 4, "failed": 1}})
    progress.poll()
    assert (progress.counts[0].done, progress.counts[1].done, progress.counts[1].failed) == (
        5, 5, 1,
    )  # fmt: skip
    store.close()


async def test_without_ray_installed_the_error_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.ray.ray_steps import fake_llm

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if not installed
    config = PipelineConfig(progress=False, store=False)
    builder = PipelineBuilder(config, MockAdapter(fake_llm)).input(topic="t")
    builder << Questions()
    with pytest.raises(ConfigurationError, match=r"pip install 'fanflow\[ray\]'"):
        await builder.build().execute(runner=RayRunner(shards=2))
