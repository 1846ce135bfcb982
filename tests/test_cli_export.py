"""`fanflow export NAME PATH` options: --format, --compression, --overwrite, --to-format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
import orjson
import pyarrow.parquet as pq
from typer.testing import CliRunner

from fanflow import GenerationRequest, MockAdapter, PipelineBuilder, PipelineConfig, Prompt
from fanflow.cli import app

ROWS = 20


def answer(request: GenerationRequest) -> str:
    return f"an answer to {request.messages[-1].content}"


def stored_run(tmp_path: Path) -> Path:
    store = tmp_path / "s.db"
    config = PipelineConfig(progress=False, store=store, run_name="demo", retry=None)
    builder = PipelineBuilder(config, MockAdapter(answer))
    # Every other row has no note: those cannot feed a system message.
    builder.input([{"seed": f"s{n}", "note": "be brief" if n % 2 else None} for n in range(ROWS)])
    builder << Prompt("draft", "write about {{seed}}")
    builder.build().run()
    return store


def export(store: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["--store", str(store), "export", "demo", *args])


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_export_format_arrow_to_a_directory_loads_through_datasets(tmp_path: Path) -> None:
    store = stored_run(tmp_path)

    result = export(store, str(tmp_path / "out"), "--format", "arrow")

    assert result.exit_code == 0, result.output
    assert f"Wrote {ROWS} rows" in result.output
    shards = sorted((tmp_path / "out").iterdir())
    assert [p.name for p in shards] == ["data-00000-of-00001.arrow"]
    loaded = datasets.Dataset.from_file(str(shards[0]))
    assert sorted(loaded["seed"]) == sorted(f"s{n}" for n in range(ROWS))


def test_export_refuses_an_existing_path_unless_overwrite(tmp_path: Path) -> None:
    store = stored_run(tmp_path)
    out = tmp_path / "out.jsonl"
    out.write_text("keep me\n")

    refused = export(store, str(out))
    assert refused.exit_code == 1 and "--overwrite" in refused.output
    assert out.read_text() == "keep me\n"

    replaced = export(store, str(out), "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert len(jsonl(out)) == ROWS


def test_export_compression_none_writes_plain_parquet(tmp_path: Path) -> None:
    store = stored_run(tmp_path)
    out = tmp_path / "out.parquet"

    result = export(store, str(out), "--compression", "none")

    assert result.exit_code == 0, result.output
    assert pq.ParquetFile(out).metadata.row_group(0).column(0).compression == "UNCOMPRESSED"


def test_export_to_format_prompt_completion_with_named_columns(tmp_path: Path) -> None:
    store = stored_run(tmp_path)
    out = tmp_path / "pc.jsonl"

    result = export(
        store, str(out), "--to-format", "prompt_completion", "--prompt", "seed",
        "--completion", "draft",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    rows = jsonl(out)
    assert len(rows) == ROWS
    assert {"prompt": "s3", "completion": "an answer to write about s3"} in rows


def test_export_to_format_sft_reports_the_rows_it_cannot_map(tmp_path: Path) -> None:
    store = stored_run(tmp_path)
    out = tmp_path / "sft.jsonl"

    result = export(store, str(out), "--to-format", "sft", "--system", "note")

    assert result.exit_code == 0, result.output
    rows = jsonl(out)
    assert len(rows) == ROWS // 2
    assert rows[0]["messages"][0] == {"role": "system", "content": "be brief"}
    assert f"Left out {ROWS // 2} of {ROWS} rows" in result.output
    assert "column 'note' is missing" in result.output
    assert f"Wrote {ROWS // 2} rows" in result.output


def test_export_to_format_on_invalid_raise_fails_and_writes_nothing(tmp_path: Path) -> None:
    store = stored_run(tmp_path)
    out = tmp_path / "sft.jsonl"

    result = export(
        store, str(out), "--to-format", "sft", "--system", "note", "--on-invalid", "raise"
    )

    assert result.exit_code == 1
    assert f"{ROWS // 2} of {ROWS} rows cannot be mapped" in result.output
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_export_to_format_preference_without_its_columns_names_them(tmp_path: Path) -> None:
    store = stored_run(tmp_path)

    result = export(store, str(tmp_path / "p.jsonl"), "--to-format", "preference")

    assert result.exit_code == 1
    assert "chosen" in result.output and "Traceback" not in result.output
