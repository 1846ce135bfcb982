"""A bad input row fails that row only, naming its source and line; the run goes on.

Each case runs a one-step pipeline over three rows, the middle one unusable, and expects
two ok rows and one failed task of the first step whose error says where and what.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from fanflow import (
    GenerationRequest,
    MockAdapter,
    PipelineBuilder,
    PipelineConfig,
    PipelineResult,
    StepTemplate,
    TaskInput,
    TaskResult,
    TaskStatus,
    Workflow,
)
from fanflow.callbacks import Callback


class About(StepTemplate):
    def create_workflow(self, topic: str) -> Workflow:
        return Workflow.from_prompt("about {{topic}}", topic=topic)


def _answer(request: GenerationRequest) -> str:
    return f"answer to {request.messages[-1].content}"


async def _run(data: Any, **config: Any) -> tuple[PipelineResult, list[str]]:
    sent: list[str] = []

    def llm(request: GenerationRequest) -> str:
        sent.append(request.messages[-1].content)
        return _answer(request)

    builder = PipelineBuilder(PipelineConfig(progress=False, **config), MockAdapter(llm))
    builder.input(data) << About()
    result = await builder.build().execute()
    return result, sent


def _one_failure(result: PipelineResult) -> str:
    """The error of the run's only failure, checked to be a failed first-step task."""
    assert len(result.failures) == 1, result.failures
    failure = result.failures[0]
    assert failure.status is TaskStatus.FAILED
    assert failure.step == "about"
    assert failure.error is not None
    return failure.error


def _assert_good_rows_ran(result: PipelineResult, sent: list[str]) -> None:
    assert sorted(sent) == ["about a", "about c"]
    assert sorted(row["topic"] for row in result.rows) == ["a", "c"]
    assert result.stats.tasks["ok"] == 2
    assert result.stats.tasks["failed"] == 1


# -- item 1: rows that cannot be used -----------------------------------------------------


@pytest.mark.parametrize("store", [None, False])
async def test_a_csv_line_with_a_cell_too_many_fails_that_row_only(
    tmp_path: Path, store: Any
) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("topic\na\nb,extra\nc\n", encoding="utf-8")

    result, sent = await _run(path, store=store)

    _assert_good_rows_ran(result, sent)
    error = _one_failure(result)
    assert f"{path}:3" in error
    assert "2 cells" in error and "header has 1" in error


@pytest.mark.parametrize("store", [None, False])
async def test_a_row_with_a_non_string_key_fails_that_row_only(store: Any) -> None:
    rows = [{"topic": "a"}, {"topic": "b", None: "extra"}, {"topic": "c"}]

    result, sent = await _run(rows, store=store)

    _assert_good_rows_ran(result, sent)
    error = _one_failure(result)
    assert "input row 1" in error
    assert "None" in error and "not a string" in error


@pytest.mark.parametrize("store", [None, False])
async def test_a_value_with_a_lone_surrogate_fails_that_row_only(store: Any) -> None:
    rows = [{"topic": "a"}, {"topic": "b\ud800"}, {"topic": "c"}]

    result, sent = await _run(rows, store=store)

    _assert_good_rows_ran(result, sent)
    error = _one_failure(result)
    assert "input row 1" in error
    assert "'topic'" in error and "surrogate" in error


async def test_a_nested_value_with_a_lone_surrogate_fails_that_row_only() -> None:
    rows = [{"topic": "a"}, {"topic": "b", "tags": ["x", {"y": "\udcff"}]}, {"topic": "c"}]

    result, sent = await _run(rows)

    _assert_good_rows_ran(result, sent)
    assert "'tags'" in _one_failure(result)


async def test_an_integer_beyond_64_bits_fails_that_row_only() -> None:
    rows = [{"topic": "a"}, {"topic": "b", "n": 10**30}, {"topic": "c"}]

    result, sent = await _run(rows)

    _assert_good_rows_ran(result, sent)
    error = _one_failure(result)
    assert "'n'" in error and "64 bits" in error


# -- item 2: lines that cannot be read ----------------------------------------------------


async def test_invalid_utf8_at_a_csv_line_fails_that_row_only(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_bytes(b"topic\na\nb\xe9\xff\nc\n")

    result, sent = await _run(path)

    _assert_good_rows_ran(result, sent)
    error = _one_failure(result)
    assert f"{path}:3" in error
    assert "not valid UTF-8" in error and "0xe9" in error


async def test_invalid_utf8_deep_in_a_large_csv_fails_that_row_only(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    lines = [b"topic"] + [f"t{i}".encode() for i in range(3000)]
    lines[2500] = b"caf\xe9"
    path.write_bytes(b"\n".join(lines) + b"\n")

    result = await _run(path)

    error = _one_failure(result[0])
    assert f"{path}:2501" in error
    assert result[0].stats.tasks["ok"] == 2999


async def test_a_csv_quoted_cell_over_several_lines_is_one_row(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_bytes(b'topic,n\na,1\n"b\nstill b",2\n"x\xe9\ny",3\nc,4\n')

    result, sent = await _run(path)

    assert sorted(sent) == ["about a", "about b\nstill b", "about c"]
    error = _one_failure(result)
    assert f"{path}:5" in error and "not valid UTF-8" in error


async def test_a_broken_jsonl_line_fails_that_row_only(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"topic": "a"}\n{"topic": "b"\n{"topic": "c"}\n')

    result, sent = await _run(path)

    _assert_good_rows_ran(result, sent)
    error = _one_failure(result)
    assert f"{path}:2" in error and "not valid JSON" in error


async def test_a_jsonl_line_that_is_not_an_object_fails_that_row_only(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"topic": "a"}\n["b"]\n{"topic": "c"}\n')

    result, sent = await _run(path)

    _assert_good_rows_ran(result, sent)
    error = _one_failure(result)
    assert f"{path}:2" in error and "not a JSON object" in error


async def test_a_latin1_byte_in_a_jsonl_file_is_reported_as_invalid_utf8(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"topic": "a"}\n{"topic": "caf\xe9"}\n{"topic": "c"}\n')

    result, sent = await _run(path)

    _assert_good_rows_ran(result, sent)
    error = _one_failure(result)
    assert f"{path}:2" in error
    assert "not valid UTF-8" in error and "0xe9" in error
    assert "surrogates" not in error


async def test_a_json_item_that_is_not_an_object_fails_that_item_only(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    path.write_bytes(orjson.dumps([{"topic": "a"}, "b", {"topic": "c"}]))

    result, sent = await _run(path)

    _assert_good_rows_ran(result, sent)
    assert f"{path}[1]" in _one_failure(result)


async def test_an_unreadable_file_in_a_glob_fails_one_row_and_the_other_files_run(
    tmp_path: Path,
) -> None:
    (tmp_path / "1-good.jsonl").write_bytes(b'{"topic": "a"}\n')
    (tmp_path / "2-broken.json").write_bytes(b'[{"topic": "b"}')
    (tmp_path / "3-good.jsonl").write_bytes(b'{"topic": "c"}\n')

    result, sent = await _run(str(tmp_path / "*.json*"))

    _assert_good_rows_ran(result, sent)
    error = _one_failure(result)
    assert "2-broken.json" in error and "not valid JSON" in error


async def test_a_failed_row_stops_the_run_with_on_error_raise(tmp_path: Path) -> None:
    from fanflow import StepFailed

    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"topic": "a"}\n{"topic"\n')

    with pytest.raises(StepFailed, match=r"rows\.jsonl:2"):
        await _run(path, on_error="raise", concurrency=1)


async def test_a_failed_row_is_kept_in_the_store_with_its_error(tmp_path: Path) -> None:
    import fanflow

    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"topic": "a"}\n{"topic": "b"\n{"topic": "c"}\n')
    result, _ = await _run(path)

    reloaded = fanflow.load_run(result.run_name)

    assert [f.error for f in reloaded.failures] == [f.error for f in result.failures]
    assert reloaded.failures[0].inputs == {}


async def test_rows_of_a_file_whose_first_line_is_broken_still_run(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"topic": \n{"topic": "a"}\n{"topic": "c"}\n')

    result, sent = await _run(path)

    assert sorted(sent) == ["about a", "about c"]
    assert f"{path}:1" in _one_failure(result)


async def test_a_dry_run_takes_the_first_usable_row(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"topic": \n{"topic": "a"}\n{"topic": "c"}\n')
    sent: list[str] = []

    def llm(request: GenerationRequest) -> str:
        sent.append(request.messages[-1].content)
        return _answer(request)

    builder = PipelineBuilder(PipelineConfig(progress=False), MockAdapter(llm))
    builder.input(path) << About()
    result = await builder.build().dry_run()

    assert sent == ["about a"]
    assert [row["topic"] for row in result.rows] == ["a"]


class _Tagged(Callback):
    """Passes each answer on under `tag`, with a lone surrogate for topic b."""

    def map(self, result: TaskResult) -> TaskInput:
        bad = result.inputs["topic"] == "b"
        return TaskInput({"tag": "b\udcff" if bad else result.result})


class Next(StepTemplate):
    def create_workflow(self, topic: str) -> Workflow:
        return Workflow.from_prompt("next {{topic}}", topic=topic)


async def test_a_field_the_store_cannot_write_fails_that_task_only() -> None:
    builder = PipelineBuilder(PipelineConfig(progress=False), MockAdapter(_answer))
    builder.input([{"topic": "a"}, {"topic": "b"}, {"topic": "c"}])
    builder << About().then(_Tagged()) << Next()

    result = await builder.build().execute()

    assert sorted(row["topic"] for row in result.rows) == ["a", "c"]
    (failure,) = result.failures
    assert failure.step == "next" and failure.lineage == (1, 0)
    assert failure.error is not None
    assert "cannot be stored" in failure.error and "'tag'" in failure.error
    assert "surrogate" in failure.error


async def test_a_csv_cell_too_large_fails_that_row_only(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("topic\na\n" + "x" * 200_000 + "\nc\n", encoding="utf-8")

    result, sent = await _run(path)

    assert sorted(sent) == ["about a", "about c"]
    error = _one_failure(result)
    assert f"{path}:3" in error and "not valid CSV" in error


async def test_a_parquet_file_corrupt_part_way_fails_one_row_after_the_rows_before_it(
    tmp_path: Path,
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "rows.parquet"
    table = pa.table({"topic": [f"t{i}" for i in range(3000)]})
    pq.write_table(table, path, row_group_size=1024, compression="none")
    data = bytearray(path.read_bytes())
    page = pq.read_metadata(path).row_group(1).column(0).data_page_offset
    data[page : page + 64] = b"\xab" * 64  # the second row group's page header
    path.write_bytes(bytes(data))

    result, sent = await _run(path)

    assert len(sent) == 1024  # the first row group ran
    error = _one_failure(result)
    assert f"{path} (after 1024 rows)" in error and "reading stopped" in error
