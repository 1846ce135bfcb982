"""Pipeline input rows, read lazily from what the user gave `PipelineBuilder.input`.

Accepted: one row as keywords, a list of dicts, a `datasets.Dataset`, or a path / glob of
`.jsonl`, `.json` (a list of objects), `.csv` or `.parquet` files. Files are streamed (one
line, row or record batch at a time), so a large input is never held in memory.
"""

from __future__ import annotations

import csv
import glob
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import orjson

from fanflow._exceptions import ConfigurationError

__all__ = ["RowSource", "source_from"]

Row = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class RowSource:
    """A re-iterable source of rows; `length` when known cheaply (for progress)."""

    open: Callable[[], Iterator[Row]]
    length: int | None
    label: str

    def first_row(self) -> Row:
        row = next(self.open(), None)
        if row is None:
            raise ConfigurationError(f"input {self.label} has no rows; give at least one")
        return row


def source_from(data: Any) -> RowSource:
    """A `RowSource` for any accepted input; `ConfigurationError` naming what is wrong."""
    if _is_dataset(data):
        return _dataset_source(data)
    if isinstance(data, Mapping):
        return _rows_source([data], "row")
    if isinstance(data, (str, Path)):
        return _path_source(str(data))
    if isinstance(data, Sequence):
        return _rows_source(data, f"list of {len(data)} rows")
    raise ConfigurationError(
        f"cannot read pipeline input of type {type(data).__name__}; give rows as keywords, a "
        "list of dicts, a datasets.Dataset, or a .jsonl/.json/.csv/.parquet path or glob"
    )


def _rows_source(rows: Sequence[Any], label: str) -> RowSource:
    for number, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ConfigurationError(
                f"input row {number} is a {type(row).__name__}, not a dict of column -> value"
            )
    return RowSource(lambda: iter(rows), len(rows), label)


def _is_dataset(data: Any) -> bool:
    module = type(data).__module__
    return module.startswith("datasets") and hasattr(data, "column_names")


def _dataset_source(data: Any) -> RowSource:
    if isinstance(data, Mapping):  # a DatasetDict: split name -> Dataset
        raise ConfigurationError(
            f"input is a {type(data).__name__} with splits {list(data)}; give one split, "
            "e.g. data['train']"
        )
    length = len(data) if isinstance(data, Sized) else None  # IterableDataset has none
    return RowSource(lambda: iter(data), length, f"datasets.{type(data).__name__}")


def _path_source(pattern: str) -> RowSource:
    paths = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
    if not paths or not all(Path(p).is_file() for p in paths):
        raise ConfigurationError(f"input {pattern!r}: no such file; check the path or glob")
    readers = [_reader(p) for p in paths]
    return RowSource(lambda: chain.from_iterable(r() for r in readers), None, pattern)


def _reader(path: str) -> Callable[[], Iterable[Row]]:
    suffix = Path(path).suffix.lower()
    readers: dict[str, Callable[[str], Iterable[Row]]] = {
        ".jsonl": _read_jsonl,
        ".ndjson": _read_jsonl,
        ".json": _read_json,
        ".csv": _read_csv,
        ".parquet": _read_parquet,
    }
    if suffix not in readers:
        raise ConfigurationError(
            f"input {path!r}: cannot read {suffix or 'files without a suffix'}; use .jsonl, "
            ".json, .csv or .parquet"
        )
    return lambda: readers[suffix](path)


def _read_jsonl(path: str) -> Iterator[Row]:
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                where = f"{path}:{number}"
                yield _object(_loads(line, where), where)


def _read_json(path: str) -> Iterator[Row]:
    data = _loads(Path(path).read_bytes(), path)
    if not isinstance(data, list):
        raise ConfigurationError(f"input {path!r} must hold a JSON list of objects")
    for number, item in enumerate(data):
        yield _object(item, f"{path}[{number}]")


def _read_csv(path: str) -> Iterator[Row]:
    with open(path, newline="", encoding="utf-8-sig") as handle:  # -sig: drop a BOM
        yield from csv.DictReader(handle)


def _read_parquet(path: str) -> Iterator[Row]:
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
        yield from batch.to_pylist()


def _loads(data: bytes, where: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ConfigurationError(f"input {where} is not valid JSON: {exc}") from exc


def _object(value: Any, where: str) -> Row:
    if not isinstance(value, dict):
        raise ConfigurationError(f"input {where} is not a JSON object of column -> value")
    return value
