"""Pipeline input sources: every accepted format, re-iteration, laziness and clear errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import datasets
import orjson
import pytest

from fanflow import ConfigurationError
from fanflow.engine.pipeline._inputs import UnusableRow, source_from

ROWS = [{"topic": "physics", "n": 1}, {"topic": "chemistry", "n": 2}]


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in rows))
    return path


def _rows(data: Any) -> list[dict[str, Any]]:
    return [dict(row) for row in source_from(data).open()]


# -- in-memory inputs ---------------------------------------------------------------------


def test_a_dict_is_one_row_with_length_one() -> None:
    source = source_from({"topic": "physics"})

    assert [dict(r) for r in source.open()] == [{"topic": "physics"}]
    assert source.length == 1


def test_a_list_of_dicts_gives_its_rows_in_order_with_known_length() -> None:
    source = source_from(ROWS)

    assert [dict(r) for r in source.open()] == ROWS
    assert source.length == 2


def test_a_dataset_gives_its_rows_with_known_length() -> None:
    source = source_from(datasets.Dataset.from_list(ROWS))

    assert [dict(r) for r in source.open()] == ROWS
    assert source.length == 2


def test_an_iterable_dataset_gives_its_rows_with_unknown_length() -> None:
    streaming = datasets.Dataset.from_list(ROWS).to_iterable_dataset()

    source = source_from(streaming)

    assert [dict(r) for r in source.open()] == ROWS
    assert source.length is None


def test_a_dataset_dict_of_several_splits_is_rejected_asking_for_one() -> None:
    one = datasets.Dataset.from_list(ROWS)
    splits = datasets.DatasetDict({"train": one, "test": one})

    with pytest.raises(ConfigurationError, match=r"'train', 'test'.*split="):
        source_from(splits)
    assert [dict(r) for r in source_from(splits, {"split": "test"}).open()] == ROWS
    alone = datasets.DatasetDict({"train": one})
    assert [dict(r) for r in source_from(alone).open()] == ROWS  # its only split


def test_reiterating_a_list_source_gives_the_rows_again() -> None:
    source = source_from(ROWS)

    assert list(source.open()) == list(source.open()) == ROWS


# -- files --------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson"])
def test_a_jsonl_file_gives_one_row_per_line_and_skips_blank_lines(
    tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"rows{suffix}"
    path.write_bytes(orjson.dumps(ROWS[0]) + b"\n\n" + orjson.dumps(ROWS[1]) + b"\n")

    assert _rows(path) == ROWS


def test_a_json_file_holding_a_list_of_objects_gives_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    path.write_bytes(orjson.dumps(ROWS))

    assert _rows(str(path)) == ROWS


def test_a_csv_file_gives_rows_of_strings_keyed_by_the_header(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("topic,n\nphysics,1\nchemistry,2\n", encoding="utf-8")

    assert _rows(path) == [{"topic": "physics", "n": "1"}, {"topic": "chemistry", "n": "2"}]


def test_a_csv_file_with_a_byte_order_mark_keeps_the_first_column_name(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_text("topic,n\nphysics,1\n", encoding="utf-8-sig")

    assert _rows(path) == [{"topic": "physics", "n": "1"}]


def test_a_parquet_file_gives_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "rows.parquet"
    datasets.Dataset.from_list(ROWS).to_parquet(str(path))

    assert _rows(path) == ROWS


def test_the_suffix_is_matched_case_insensitively(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "ROWS.JSONL", ROWS)

    assert _rows(path) == ROWS


def test_a_glob_reads_every_matching_file_in_sorted_order(tmp_path: Path) -> None:
    _write_jsonl(tmp_path / "part-b.jsonl", [{"id": 3}, {"id": 4}])
    _write_jsonl(tmp_path / "part-a.jsonl", [{"id": 1}, {"id": 2}])

    assert _rows(str(tmp_path / "part-*.jsonl")) == [{"id": 1}, {"id": 2}, {"id": 3}, {"id": 4}]


def test_a_file_source_has_unknown_length_and_is_labelled_by_its_path(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "rows.jsonl", ROWS)

    source = source_from(path)

    assert source.length is None
    assert source.label == str(path)


def test_reiterating_a_file_source_reads_the_file_again(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "rows.jsonl", ROWS)
    source = source_from(path)

    first = [dict(r) for r in source.open()]
    second = [dict(r) for r in source.open()]

    assert first == second == ROWS


def test_a_file_source_reads_the_file_when_opened_not_when_created(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "rows.jsonl", ROWS)
    source = source_from(path)
    _write_jsonl(path, [{"id": 9}])

    assert [dict(r) for r in source.open()] == [{"id": 9}]


# -- first_row ----------------------------------------------------------------------------


def test_first_row_is_the_first_row_of_the_source(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "rows.jsonl", ROWS)

    assert dict(source_from(path).first_row()) == ROWS[0]
    assert dict(source_from(ROWS).first_row()) == ROWS[0]


def test_first_row_of_an_empty_source_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"\n")

    with pytest.raises(ConfigurationError, match="has no rows"):
        source_from(path).first_row()
    with pytest.raises(ConfigurationError, match="has no rows"):
        source_from([]).first_row()


# -- laziness -----------------------------------------------------------------------------


def _unusable(row: Any) -> UnusableRow:
    assert isinstance(row, UnusableRow), row
    return row


def test_a_jsonl_source_yields_rows_before_reading_a_later_malformed_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(orjson.dumps(ROWS[0]) + b"\n" + b"{not json\n" + orjson.dumps(ROWS[1]))
    rows = source_from(path).open()

    assert dict(next(rows)) == ROWS[0]
    assert _unusable(next(rows)).where == f"{path}:2"
    assert dict(next(rows)) == ROWS[1]


def test_first_row_succeeds_although_a_later_line_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(orjson.dumps(ROWS[0]) + b"\n" + b"[1, 2]\n")

    assert dict(source_from(path).first_row()) == ROWS[0]


# -- errors -------------------------------------------------------------------------------


def test_a_missing_file_is_a_configuration_error_at_creation(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no such file"):
        source_from(tmp_path / "missing.jsonl")


def test_a_glob_matching_nothing_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no such file"):
        source_from(str(tmp_path / "*.jsonl"))


def test_an_unknown_suffix_is_a_configuration_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "rows.txt"
    path.write_text("physics\n", encoding="utf-8")

    with pytest.raises(ConfigurationError, match=r"cannot read \.txt"):
        source_from(path)


def test_a_json_file_that_is_not_a_list_is_one_unusable_row(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    path.write_bytes(orjson.dumps({"topic": "physics"}))

    (row,) = source_from(path).open()

    assert "must hold a JSON list of objects" in _unusable(row).message
    with pytest.raises(ConfigurationError, match="must hold a JSON list of objects"):
        source_from(path).first_row()


def test_a_json_file_with_a_non_object_item_names_its_index(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    path.write_bytes(orjson.dumps([ROWS[0], "physics"]))

    good, bad = source_from(path).open()

    assert good == ROWS[0]
    assert re.search(r"rows\.json\[1\]: not a JSON object", _unusable(bad).message)


def test_a_malformed_json_file_is_a_configuration_error_at_first_row(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    path.write_text('[{"topic": "physics"', encoding="utf-8")

    with pytest.raises(ConfigurationError, match=r"rows\.json: not valid JSON"):
        source_from(path).first_row()


def test_a_jsonl_line_that_is_not_an_object_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(orjson.dumps(ROWS[0]) + b"\n" + b'"physics"\n')

    _, bad = source_from(path).open()

    assert re.search(r"rows\.jsonl:2: not a JSON object", _unusable(bad).message)


def test_a_list_with_a_non_dict_is_a_configuration_error_naming_the_row() -> None:
    with pytest.raises(ConfigurationError, match="input row 1 is a str"):
        source_from([ROWS[0], "physics"])


@pytest.mark.parametrize("data", [42, 3.5, None, iter(ROWS), {1, 2}])
def test_an_unsupported_type_is_a_configuration_error_naming_it(data: Any) -> None:
    with pytest.raises(ConfigurationError, match=f"type {type(data).__name__}"):
        source_from(data)
