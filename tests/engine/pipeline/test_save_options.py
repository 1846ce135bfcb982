"""`result.save()` options: no silent overwrite, atomic writes, gzip/zstd JSONL, Parquet codecs."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest

from fanflow import ConfigurationError, PipelineResult, StepResults
from fanflow.steps import TaskResult


def _run(count: int = 3) -> PipelineResult:
    results = [
        TaskResult(
            step="answer",
            lineage=(i,),
            inputs={"question": f"q{i}"},
            context={},
            result=f"a{i}",
        )
        for i in range(count)
    ]
    return PipelineResult([StepResults("answer", results)])


def _jsonl(data: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in data.splitlines()]


@pytest.mark.parametrize("name", ["out.jsonl", "out.parquet", "out.jsonl.gz"])
def test_save_refuses_to_overwrite_an_existing_file(tmp_path: Path, name: str) -> None:
    target = tmp_path / name
    target.write_bytes(b"keep me")

    with pytest.raises(ConfigurationError, match="overwrite=True"):
        _run().save(target)

    assert target.read_bytes() == b"keep me"


def test_save_overwrites_when_asked(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_bytes(b"old")

    _run().save(target, overwrite=True)

    assert [row["answer"] for row in _jsonl(target.read_bytes())] == ["a0", "a1", "a2"]


def test_jsonl_gz_is_written_gzip_compressed(tmp_path: Path) -> None:
    result = _run()

    written = result.save(tmp_path / "out.jsonl.gz")

    assert written == tmp_path / "out.jsonl.gz"
    assert _jsonl(gzip.decompress(written.read_bytes())) == list(result.rows)


def test_jsonl_zst_is_written_zstd_compressed(tmp_path: Path) -> None:
    import pyarrow as pa

    result = _run()
    written = result.save(tmp_path / "out.jsonl.zst")

    with pa.CompressedInputStream(str(written), "zstd") as stream:
        assert _jsonl(stream.read()) == list(result.rows)


def test_format_argument_overrides_the_suffix(tmp_path: Path) -> None:
    written = _run().save(tmp_path / "out.data", format="jsonl")

    assert len(_jsonl(written.read_bytes())) == 3


@pytest.mark.parametrize("codec", ["zstd", "snappy", "gzip"])
def test_parquet_uses_the_compression_asked_for(tmp_path: Path, codec: str) -> None:
    written = _run().save(tmp_path / "out.parquet", compression=codec)

    meta = pq.ParquetFile(written).metadata
    assert meta.row_group(0).column(0).compression.lower() == codec
    assert meta.num_rows == 3


def test_parquet_defaults_to_zstd(tmp_path: Path) -> None:
    written = _run().save(tmp_path / "out.parquet")

    assert pq.ParquetFile(written).metadata.row_group(0).column(0).compression == "ZSTD"


def test_unknown_format_or_compression_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="format"):
        _run().save(tmp_path / "out.jsonl", format="csv")
    with pytest.raises(ConfigurationError, match="compression"):
        _run().save(tmp_path / "out.parquet", compression="rar")
    assert list(tmp_path.iterdir()) == []


def test_a_failure_while_writing_leaves_nothing_under_the_final_name(tmp_path: Path) -> None:
    class Boom(Exception):
        pass

    def rows() -> Any:
        yield {"answer": "first"}
        raise Boom

    result = _run()
    result.iter_rows = rows  # type: ignore[method-assign]  # a crash in the middle of writing
    for name in ("out.jsonl", "out.parquet", "out.jsonl.gz"):
        with pytest.raises(Boom):
            result.save(tmp_path / name)
    assert list(tmp_path.iterdir()) == []  # no final file, no temporary file left


def test_a_failed_overwrite_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_bytes(b"old")

    def rows() -> Any:
        yield {"answer": "first"}
        raise RuntimeError("crash")

    result = _run()
    result.iter_rows = rows  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        result.save(target, overwrite=True)

    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_compressed_jsonl_loads_back_through_datasets(tmp_path: Path) -> None:
    import datasets

    result = _run(5)
    written = result.save(tmp_path / "out.jsonl.gz")

    loaded = datasets.load_dataset(
        "json", data_files=str(written), split="train", cache_dir=str(tmp_path / "cache")
    )
    assert loaded.to_list() == list(result.rows)
