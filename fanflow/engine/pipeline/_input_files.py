"""Input files, read lazily one row at a time: `.jsonl`, `.json`, `.csv`, `.parquet`.

What can be checked before the run is a `ConfigurationError` naming the path and what to
do (a missing file, a directory, an unknown suffix, a Parquet file whose footer does not
read). Anything wrong inside a file is found only when its rows are read, maybe hours into
a run, so it fails that row only: the reader yields an `UnusableRow` naming the file and
line (see `_input_rows`) and goes on with the next line. A file that stops reading part way
(cut short, removed) yields one `UnusableRow` saying where, and the next file is read.
"""

from __future__ import annotations

import csv
import glob
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson

from fanflow._exceptions import ConfigurationError
from fanflow.engine.pipeline._input_rows import Row, UnusableRow, invalid_utf8, usable

__all__ = ["file_reader", "input_paths"]

Read = Callable[[], Iterator[Row | UnusableRow]]


def input_paths(pattern: str) -> list[str]:
    """The files a path or glob names; `ConfigurationError` saying what is wrong."""
    paths = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
    if not paths:
        raise ConfigurationError(f"input {pattern!r}: no such file; check the path or glob")
    for path in paths:
        if Path(path).is_dir():
            raise ConfigurationError(
                f"input {path!r} is a directory, not a file; give the files in it as a glob, "
                f"e.g. {str(Path(path) / '*.jsonl')!r}"
            )
        if not Path(path).is_file():
            raise ConfigurationError(f"input {path!r}: no such file; check the path or glob")
    return paths


def file_reader(path: str) -> Read:
    """A function that reads `path`'s rows afresh each time it is called."""
    suffix = Path(path).suffix.lower()
    readers: dict[str, Callable[[str], Iterator[Row | UnusableRow]]] = {
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
    if suffix == ".parquet":
        _check_parquet(path)
    read = readers[suffix]
    return lambda: _guarded(read, path)


def _guarded(
    read: Callable[[str], Iterator[Row | UnusableRow]], path: str
) -> Iterator[Row | UnusableRow]:
    """`read(path)`'s rows; an error part way ends this file with one `UnusableRow`."""
    rows = 0
    try:
        for row in read(path):
            rows += 1
            yield row
    except Exception as exc:  # recorded as a failed row, and the run reads the next file
        yield UnusableRow(
            f"{path} (after {rows} rows)",
            f"reading stopped: {type(exc).__name__}: {exc}; the rest of the file was not "
            "read, check that it is complete",
        )


# -- JSON ---------------------------------------------------------------------------------


def _read_jsonl(path: str) -> Iterator[Row | UnusableRow]:
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield _json_object(line, f"{path}:{number}")


def _read_json(path: str) -> Iterator[Row | UnusableRow]:
    data = Path(path).read_bytes()
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        problem = _json_problem(data, exc, line=False)
        yield UnusableRow(path, f"{problem}; none of its rows were read")
        return
    if not isinstance(value, list):
        yield UnusableRow(path, "must hold a JSON list of objects; none of its rows were read")
        return
    for number, item in enumerate(value):
        yield item if isinstance(item, dict) else _not_an_object(f"{path}[{number}]")


def _json_object(data: bytes, where: str) -> Row | UnusableRow:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        return UnusableRow(where, _json_problem(data, exc, line=True))
    return value if isinstance(value, dict) else _not_an_object(where)


def _json_problem(data: bytes, exc: orjson.JSONDecodeError, line: bool) -> str:
    # orjson reports bytes that are not UTF-8 as "surrogates not allowed": say what it is.
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as bad:
        at = f" at column {bad.start + 1}" if line else f" at offset {bad.start} of the file"
        return invalid_utf8(bad.object[bad.start], at)
    return f"not valid JSON ({exc}); fix or remove it"


def _not_an_object(where: str) -> UnusableRow:
    return UnusableRow(where, "not a JSON object of column -> value")


# -- CSV ----------------------------------------------------------------------------------


def _read_csv(path: str) -> Iterator[Row | UnusableRow]:
    # surrogateescape: a byte that is not UTF-8 fails its row, not the whole read (text
    # files are decoded in chunks, so a strict decoder fails lines before the bad one too).
    # -sig drops a byte order mark.
    with open(path, newline="", encoding="utf-8-sig", errors="surrogateescape") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return
        if (problem := _undecodable(header)) is not None:
            yield UnusableRow(f"{path}:1", f"the header is {problem}; none of its rows were read")
            return
        line = reader.line_num
        while True:
            start = line + 1  # a quoted cell may span lines: a row is named by its first
            try:
                cells = next(reader, None)
            except csv.Error as exc:
                if reader.line_num == line:
                    raise  # nothing was consumed: reading on would fail the same way
                line = reader.line_num
                yield UnusableRow(f"{path}:{start}", f"not valid CSV ({exc})")
                continue
            if cells is None:
                return
            line = reader.line_num
            if cells:  # blank lines are skipped, as csv.DictReader does
                yield _csv_row(header, cells, f"{path}:{start}")


def _csv_row(header: list[str], cells: list[str], where: str) -> Row | UnusableRow:
    if len(cells) > len(header):
        return UnusableRow(
            where,
            f"the line has {len(cells)} cells, the header has {len(header)}; quote cells "
            'that hold a comma ("a, b")',
        )
    if (problem := _undecodable(cells)) is not None:
        return UnusableRow(where, problem)
    row: dict[str, str | None] = dict(zip(header, cells, strict=False))
    for name in header[len(cells) :]:
        row[name] = None  # a short line, as csv.DictReader fills it
    return row


def _undecodable(cells: list[str]) -> str | None:
    """What to say if a cell holds bytes that were not UTF-8 (escaped as surrogates)."""
    for cell in cells:
        if not cell.isascii():
            try:
                cell.encode("utf-8")
            except UnicodeEncodeError as exc:
                return invalid_utf8(ord(cell[exc.start]) - 0xDC00)  # the escaped byte
    return None


# -- Parquet ------------------------------------------------------------------------------


def _check_parquet(path: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pq.read_metadata(path)
    except (pa.ArrowException, OSError) as exc:
        raise ConfigurationError(
            f"input {path!r} is not a readable Parquet file ({type(exc).__name__}: {exc}); "
            "check that it was written completely, or write it again"
        ) from exc


def _read_parquet(path: str) -> Iterator[Row | UnusableRow]:
    import pyarrow.parquet as pq

    number = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
        for row in batch.to_pylist():
            yield usable(row, f"{path} row {number}")
            number += 1
