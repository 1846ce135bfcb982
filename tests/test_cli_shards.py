"""`fanflow export NAME PATH --max-shard-size SIZE`: a run's rows in Parquet shards."""

from __future__ import annotations

from pathlib import Path

import datasets
from typer.testing import CliRunner

from fanflow import GenerationRequest, MockAdapter, PipelineBuilder, PipelineConfig, Prompt
from fanflow.cli import app

ROWS = 40


def answer(request: GenerationRequest) -> str:
    return f"an answer to {request.messages[-1].content}"


def stored_run(tmp_path: Path) -> Path:
    store = tmp_path / "s.db"
    config = PipelineConfig(progress=False, store=store, run_name="demo", retry=None)
    builder = PipelineBuilder(config, MockAdapter(answer))
    builder.input([{"seed": f"s{n}"} for n in range(ROWS)])
    builder << Prompt("draft", "write about {{seed}}")
    builder.build().run()
    return store


def export(store: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--store", str(store), "export", "demo", *args])
    return result.exit_code, result.output


def test_export_with_a_small_max_shard_size_writes_a_directory_of_shards(tmp_path: Path) -> None:
    store = stored_run(tmp_path)

    code, output = export(store, str(tmp_path / "out"), "--max-shard-size", "1KB")

    assert code == 0, output
    assert f"Wrote {ROWS} rows" in output and "out" in output
    shards = sorted((tmp_path / "out").glob("data-*.parquet"))
    assert len(shards) > 1
    loaded = datasets.load_dataset(
        "parquet",
        data_files=str(tmp_path / "out" / "*.parquet"),
        split="train",
        cache_dir=str(tmp_path / "cache"),
    )
    assert sorted(loaded["seed"]) == sorted(f"s{n}" for n in range(ROWS))


def test_export_with_a_bad_max_shard_size_fails_naming_it(tmp_path: Path) -> None:
    store = stored_run(tmp_path)

    code, output = export(store, str(tmp_path / "out"), "--max-shard-size", "lots")

    assert code != 0
    assert "max_shard_size='lots'" in output
    assert not (tmp_path / "out").exists()
