"""Inputs that cannot be read at all: refused at `input()` or `build()`, naming the path
and what to do; a file that is only partly unreadable fails its bad rows in the run."""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest

from fanflow import (
    ConfigurationError,
    GenerationRequest,
    MockAdapter,
    PipelineBuilder,
    PipelineConfig,
    StepTemplate,
    Workflow,
)


class About(StepTemplate):
    def create_workflow(self, topic: str) -> Workflow:
        return Workflow.from_prompt("about {{topic}}", topic=topic)


def _builder() -> PipelineBuilder:
    def llm(request: GenerationRequest) -> str:
        return "ok"

    return PipelineBuilder(PipelineConfig(progress=False), MockAdapter(llm))


def test_a_corrupt_parquet_file_is_refused_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "rows.parquet"
    datasets.Dataset.from_list([{"topic": "a"}] * 10).to_parquet(str(path))
    path.write_bytes(path.read_bytes()[:-20])  # cut short, as by a copy that failed

    with pytest.raises(ConfigurationError) as caught:
        _builder().input(path)

    message = str(caught.value)
    assert str(path) in message
    assert "not a readable Parquet file" in message and "write it again" in message


def test_a_file_named_parquet_that_is_not_parquet_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rows.parquet"
    path.write_text("topic\na\n", encoding="utf-8")

    with pytest.raises(ConfigurationError, match="not a readable Parquet file"):
        _builder().input(str(path))


def test_a_directory_given_as_input_is_refused_suggesting_a_glob(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()

    with pytest.raises(ConfigurationError) as caught:
        _builder().input(folder)

    message = str(caught.value)
    assert "is a directory" in message and "no such file" not in message
    assert str(folder / "*.jsonl") in message


def test_a_glob_matching_a_directory_is_refused_naming_it(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(b'{"topic": "a"}\n')
    (tmp_path / "b.jsonl").mkdir()

    with pytest.raises(ConfigurationError, match=r"b\.jsonl' is a directory"):
        _builder().input(str(tmp_path / "*.jsonl"))


async def test_a_latin1_csv_fails_its_non_ascii_rows_naming_path_line_and_fix(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rows.csv"
    path.write_bytes("topic\ncafé\nb\n".encode("latin-1"))
    builder = _builder().input(path)
    builder << About()

    result = await builder.build().execute()

    assert [row["topic"] for row in result.rows] == ["b"]
    (failure,) = result.failures
    assert failure.error is not None
    assert f"{path}:2" in failure.error
    assert "not valid UTF-8 (byte 0xe9)" in failure.error
    assert "save the file as UTF-8" in failure.error


def test_a_csv_whose_header_is_not_utf8_is_refused_at_build(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_bytes("thème\na\n".encode("latin-1"))
    builder = _builder().input(path)
    builder << About()

    with pytest.raises(ConfigurationError) as caught:
        builder.build()

    message = str(caught.value)
    assert f"{path}:1" in message and "header" in message and "not valid UTF-8" in message
