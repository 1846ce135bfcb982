"""`result.save()` to Arrow and to sharded JSONL, and the round trip every format must
pass: pipeline -> shards -> `datasets.load_dataset(...)` gives the same rows."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
import pytest

from fanflow import (
    ConfigurationError,
    GenerationRequest,
    MockAdapter,
    PipelineBuilder,
    PipelineConfig,
    PipelineResult,
    Prompt,
)

ROWS = 200


def answer(request: GenerationRequest) -> str:
    return f"an answer to {request.messages[-1].content} " * 3


async def run(tmp_path: Path, store: bool = True) -> PipelineResult:
    config = PipelineConfig(progress=False, retry=None, store=tmp_path / "s.db" if store else False)
    builder = PipelineBuilder(config, MockAdapter(answer))
    builder.input([{"topic": f"t{n}", "n": n} for n in range(ROWS)])
    builder << Prompt("draft", "write about {{topic}}")
    return await builder.build().execute()


def load(builder: str, files: str | list[str], tmp_path: Path) -> list[dict[str, Any]]:
    loaded = datasets.load_dataset(
        builder, data_files=files, split="train", cache_dir=str(tmp_path / "cache")
    )
    assert isinstance(loaded, datasets.Dataset)
    return loaded.to_list()


def by_n(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: row["n"])


def test_save_defaults_match_the_documented_signature() -> None:
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(PipelineResult.save).parameters.items()
    }
    assert defaults["format"] is None
    assert defaults["max_shard_size"] == "500MB"
    assert defaults["compression"] == "zstd"
    assert defaults["overwrite"] is False


@pytest.mark.parametrize(
    ("name", "builder", "pattern"),
    [
        ("out.parquet", "parquet", "*.parquet"),
        ("out.arrow", "arrow", "*.arrow"),
        ("out.jsonl", "json", "*.jsonl"),
        ("out.jsonl.gz", "json", "*.jsonl.gz"),
    ],
)
async def test_round_trip_through_shards_gives_the_same_rows(
    tmp_path: Path, name: str, builder: str, pattern: str
) -> None:
    result = await run(tmp_path)

    written = result.save(tmp_path / name, max_shard_size="4KB")

    assert written == tmp_path / "out" and written.is_dir()
    shards = sorted(p.name for p in written.iterdir())
    assert len(shards) > 1
    suffix = pattern[1:]
    assert shards[0] == f"data-00000-of-{len(shards):05d}{suffix}"
    assert all(s.endswith(suffix) for s in shards)
    assert by_n(load(builder, str(written / pattern), tmp_path)) == by_n(list(result.rows))


async def test_an_arrow_file_loads_with_dataset_from_file(tmp_path: Path) -> None:
    result = await run(tmp_path, store=False)

    written = result.save(tmp_path / "out.arrow")

    assert written == tmp_path / "out.arrow" and written.is_file()
    assert datasets.Dataset.from_file(str(written)).to_list() == list(result.rows)
    assert load("arrow", str(written), tmp_path) == list(result.rows)


async def test_arrow_is_zstd_compressed_by_default_and_plain_when_asked(tmp_path: Path) -> None:
    result = await run(tmp_path, store=False)

    packed = result.save(tmp_path / "packed.arrow")
    plain = result.save(tmp_path / "plain.arrow", compression="none")

    assert packed.stat().st_size < plain.stat().st_size
    with pa.ipc.open_stream(str(plain)) as reader:
        assert reader.read_all().num_rows == ROWS
    assert datasets.Dataset.from_file(str(packed)).num_rows == ROWS


async def test_format_arrow_with_a_directory_path_writes_arrow_shards(tmp_path: Path) -> None:
    result = await run(tmp_path, store=False)

    written = result.save(tmp_path / "shards", format="arrow")

    assert [p.name for p in written.iterdir()] == ["data-00000-of-00001.arrow"]


async def test_format_jsonl_with_a_directory_path_writes_jsonl_shards(tmp_path: Path) -> None:
    result = await run(tmp_path, store=False)

    written = result.save(tmp_path / "shards", format="jsonl", max_shard_size="4KB")

    names = sorted(p.name for p in written.iterdir())
    assert len(names) > 1 and all(n.endswith(".jsonl") for n in names)
    assert load("json", str(written / "*.jsonl"), tmp_path) == list(result.rows)


async def test_a_jsonl_path_stays_one_file_when_the_rows_fit(tmp_path: Path) -> None:
    result = await run(tmp_path, store=False)

    written = result.save(tmp_path / "out.jsonl.gz")

    assert written == tmp_path / "out.jsonl.gz" and written.is_file()
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith("s.")] == ["out.jsonl.gz"]


@pytest.mark.parametrize("name", ["out.arrow", "out.jsonl"])
async def test_an_existing_shard_directory_is_not_overwritten_unless_asked(
    tmp_path: Path, name: str
) -> None:
    result = await run(tmp_path, store=False)
    result.save(tmp_path / name, max_shard_size="4KB")

    with pytest.raises(ConfigurationError, match="overwrite=True"):
        result.save(tmp_path / name, max_shard_size="4KB")

    written = result.save(tmp_path / name, max_shard_size="4KB", overwrite=True)
    assert len(list(written.iterdir())) > 1


async def test_an_unrelated_folder_named_like_the_shard_directory_does_not_block_a_save(
    tmp_path: Path,
) -> None:
    result = await run(tmp_path, store=False)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "input.jsonl").write_text("{}\n")

    written = result.save(tmp_path / "out.jsonl")

    assert written == tmp_path / "out.jsonl"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["input.jsonl"]


async def test_saving_jsonl_shards_again_replaces_the_old_shards(tmp_path: Path) -> None:
    result = await run(tmp_path, store=False)
    result.save(tmp_path / "out.jsonl", max_shard_size="2KB")

    written = result.save(tmp_path / "out.jsonl", max_shard_size="8KB", overwrite=True)

    names = sorted(p.name for p in written.iterdir())
    total = len(names)
    assert names == [f"data-{i:05d}-of-{total:05d}.jsonl" for i in range(total)]
    assert by_n(load("json", str(written / "*.jsonl"), tmp_path)) == by_n(list(result.rows))


async def test_an_unknown_arrow_compression_is_a_configuration_error(tmp_path: Path) -> None:
    result = await run(tmp_path, store=False)

    with pytest.raises(ConfigurationError, match="compression"):
        result.save(tmp_path / "out.arrow", compression="brotli")
    assert not list(tmp_path.glob("*out*"))


async def test_overwriting_switches_cleanly_between_one_file_and_shards(tmp_path: Path) -> None:
    result = await run(tmp_path, store=False)
    result.save(tmp_path / "out.arrow")

    sharded = result.save(tmp_path / "out.arrow", max_shard_size="4KB", overwrite=True)
    assert not (tmp_path / "out.arrow").exists()

    single = result.save(tmp_path / "out.arrow", overwrite=True)
    assert single.is_file() and list(sharded.iterdir()) == []
