"""Pipeline input rows, read lazily from what the user gave `PipelineBuilder.input`.

Accepted: one row as keywords, a list of dicts, a `datasets` dataset (`Dataset`,
`IterableDataset`, or a `DatasetDict` with `split=`), a Hub dataset
`hf://datasets/owner/name` (`_input_hub`), or a path / glob of `.jsonl`, `.json` (a list of
objects), `.csv` or `.parquet` files. Files are streamed (one line, row or record batch at
a time, `_input_files`), so a large input is never held in memory. A row that cannot be
read or used comes as an `UnusableRow` (`_input_rows`): the run fails that row only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import Any

from fanflow._exceptions import ConfigurationError
from fanflow._redact import register_secret
from fanflow.engine.pipeline._input_files import file_reader, input_paths
from fanflow.engine.pipeline._input_hub import is_hub_path, load_hub, one_split
from fanflow.engine.pipeline._input_rows import Row, UnusableRow, usable

__all__ = ["RowSource", "UnusableRow", "source_from"]

FIRST_ROW_SEARCH = 1000
"""How many unusable rows `first_row` reads past before giving up on a source."""


@dataclass(frozen=True, slots=True)
class RowSource:
    """A re-iterable source of rows; `length` when known cheaply (for progress).

    `kind` is what it was made from: "rows" (keywords or a list), "dataset", "hub",
    "mix" or "files" (then `label` is the path or glob as given). `entry` is how a pipeline
    file writes it (`_file_format`'s input entry, paths as given), None if it cannot be
    written as a description (a `datasets` object: its rows are written, or it is refused).
    """

    open: Callable[[], Iterator[Row | UnusableRow]]
    length: int | None
    label: str
    kind: str = "rows"
    entry: Mapping[str, Any] | None = None

    def first_row(self) -> Row:
        """The first usable row (`build()` takes the columns from it); unusable rows
        before it will fail in the run, and a source with none is a `ConfigurationError`."""
        unusable: UnusableRow | None = None
        for row in islice(self.open(), FIRST_ROW_SEARCH):
            if not isinstance(row, UnusableRow):
                return row
            unusable = unusable or row
        if unusable is not None:
            raise ConfigurationError(
                f"input {self.label} has no usable row to take its columns from; first "
                f"problem: {unusable.where}: {unusable.problem}"
            )
        raise ConfigurationError(f"input {self.label} has no rows; give at least one")


def source_from(data: Any, load_args: Mapping[str, Any] | None = None) -> RowSource:
    """A `RowSource` for any accepted input; `ConfigurationError` naming what is wrong.

    `load_args`: for a Hub dataset, `datasets.load_dataset`'s keyword arguments (`split`,
    `streaming`, `name`, `revision`, `data_files`, ...); for a `datasets` object, `split`."""
    args = dict(load_args or {})
    if isinstance(data, RowSource):  # made already: a Mix, or a Mix source from a file
        _refuse_args(args, "a fanflow.Mix")
        return data
    if is_hub_path(data):
        return _hub_source(str(data), args)
    if _is_dataset(data):
        split = args.pop("split", None)
        _refuse_args(args, "a datasets object (only split= applies)")
        return _dataset_source(one_split(data, split, f"datasets.{type(data).__name__}"))
    _refuse_args(args, "rows or files")
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
    entry = {"rows": rows}
    return RowSource(lambda: _checked(rows, "input row"), len(rows), label, "rows", entry)


def _refuse_args(args: Mapping[str, Any], what: str) -> None:
    if args:
        raise ConfigurationError(
            f"give input() either data or keyword columns, not both: {sorted(args)} are "
            f"load arguments for a Hub dataset (hf://datasets/owner/name), not for {what}"
        )


def _hub_source(url: str, args: dict[str, Any]) -> RowSource:
    if isinstance(args.get("token"), str):
        register_secret(args["token"])  # redacted from any error that echoes it
    data = load_hub(url, args)
    # A token given here is used for this load only: never in the label (logs, errors,
    # the run record's fingerprint) nor in a pipeline file, whose loader takes HF_TOKEN.
    shown = {key: value for key, value in args.items() if key != "token"}
    described = ", ".join(f"{key}={value!r}" for key, value in shown.items())
    label = f"{url} ({described})" if described else url
    length = len(data) if isinstance(data, Sized) else None  # streamed: unknown
    entry = {"path": url, **shown}
    return RowSource(lambda: _checked(data, f"{url} row"), length, label, "hub", entry)


def _is_dataset(data: Any) -> bool:
    module = type(data).__module__
    return module.startswith("datasets") and hasattr(data, "column_names")


def _dataset_source(data: Any) -> RowSource:
    length = len(data) if isinstance(data, Sized) else None  # IterableDataset has none
    label = f"datasets.{type(data).__name__}"
    return RowSource(lambda: _checked(data, f"{label} row"), length, label, "dataset")


def _checked(rows: Any, label: str) -> Iterator[Row | UnusableRow]:
    for number, row in enumerate(rows):
        yield usable(row, f"{label} {number}")


def _path_source(pattern: str) -> RowSource:
    readers = [file_reader(path) for path in input_paths(pattern)]
    return RowSource(
        lambda: chain.from_iterable(read() for read in readers),
        None,
        pattern,
        "files",
        {"path": pattern},
    )
