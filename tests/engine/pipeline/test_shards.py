"""Sharded Parquet export: `result.save(..., max_shard_size=...)` writes numbered shards
that `datasets.load_dataset("parquet", ...)` reads back as the same rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
import pytest

from fanflow import (
    ConfigurationError,
    GenerationRequest,
    MockAdapter,
    PipelineBuilder,
    PipelineConfig,
    PipelineResult,
    StepTemplate,
    Workflow,
)

ROWS = 300


class Echo(StepTemplate):
    def create_workflow(self, topic: str) -> Workflow:
        return Workflow.from_prompt("say {{topic}}", topic=topic)


def answer(request: GenerationRequest) -> str:
    return request.messages[-1].content.upper() * 4


async def run(store: bool = False, tmp: Path | None = None) -> PipelineResult:
    config = PipelineConfig(
        progress=False, retry=None, store=tmp / "store" if store and tmp else False
    )
    rows: list[dict[str, Any]] = [{"topic": f"t{n}"} for n in range(ROWS)]
    builder = PipelineBuilder(config, MockAdapter(answer)).input(rows)
    builder << Echo(name="echo")
    return await builder.build().execute()


def load(pattern: Path, tmp_path: Path) -> list[dict[str, Any]]:
    loaded = datasets.load_dataset(
        "parquet", data_files=str(pattern), split="train", cache_dir=str(tmp_path / "cache")
    )
    assert isinstance(loaded, datasets.Dataset)
    return loaded.to_list()


def shard_names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def test_a_small_max_shard_size_writes_numbered_shards_that_load_as_the_same_rows(
    tmp_path: Path,
) -> None:
    result = await run()

    written = result.save(tmp_path / "out", max_shard_size="4KB")

    assert written == tmp_path / "out"
    names = shard_names(written)
    assert len(names) > 2
    assert names == [f"data-{i:05d}-of-{len(names):05d}.parquet" for i in range(len(names))]
    assert load(written / "*.parquet", tmp_path) == list(result.rows)


async def test_a_store_backed_run_shards_the_same_way(tmp_path: Path) -> None:
    result = await run(store=True, tmp=tmp_path)

    written = result.save(tmp_path / "out", max_shard_size=4000)

    assert len(shard_names(written)) > 2
    assert load(written / "*.parquet", tmp_path) == list(result.rows)


async def test_a_parquet_path_stays_one_file_when_the_rows_fit_in_one_shard(
    tmp_path: Path,
) -> None:
    result = await run()

    written = result.save(tmp_path / "out.parquet")

    assert written == tmp_path / "out.parquet" and written.is_file()
    assert load(written, tmp_path) == list(result.rows)
    assert shard_names(tmp_path) == ["cache", "out.parquet"]  # no temporary left


async def test_a_parquet_path_becomes_a_directory_of_shards_when_the_rows_do_not_fit(
    tmp_path: Path,
) -> None:
    result = await run()

    written = result.save(tmp_path / "out.parquet", max_shard_size="4KB")

    assert written == tmp_path / "out" and written.is_dir()
    assert not (tmp_path / "out.parquet").exists()
    assert load(written / "*.parquet", tmp_path) == list(result.rows)


async def test_saving_again_replaces_the_old_shards(tmp_path: Path) -> None:
    result = await run()
    result.save(tmp_path / "out", max_shard_size="2KB")

    written = result.save(tmp_path / "out", max_shard_size="1MB", overwrite=True)

    assert shard_names(written) == ["data-00000-of-00001.parquet"]
    assert load(written / "*.parquet", tmp_path) == list(result.rows)


@pytest.mark.parametrize("size", ["lots", "-5MB", "0", 0, -1, "1.5XB", True, 2.5])
async def test_a_bad_max_shard_size_is_a_configuration_error_naming_it(
    tmp_path: Path, size: Any
) -> None:
    result = await run()

    with pytest.raises(ConfigurationError, match="max_shard_size"):
        result.save(tmp_path / "out", max_shard_size=size)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ("500MB", 500_000_000),
        ("1GB", 10**9),
        ("1 GiB", 2**30),
        ("2kb", 2000),
        (123, 123),
        ("1.5MB", 1_500_000),
        ("64", 64),
        ("10B", 10),
    ],
)
def test_shard_sizes_parse_like_datasets(size: Any, expected: int) -> None:
    from fanflow.engine.pipeline._shards import parse_size

    assert parse_size(size) == expected
