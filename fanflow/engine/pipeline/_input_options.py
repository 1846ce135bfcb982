"""`input(..., columns=, skip=, limit=, shuffle=)`: rename, shuffle, skip and cap the rows
of any source.

The options wrap the source's `open`, so rows stay lazy: `shuffle` holds a buffer of rows
(`_input_shuffle`), `skip` reads past rows, `limit` stops reading. They apply in that order,
as `ds.shuffle(...).skip(n).take(m)` does in `datasets`: the same seed with `limit=1000`
and with `skip=1000` gives two disjoint parts of one shuffled order. `skip` and `limit`
count rows as the source yields them, unusable ones included (so the same rows are skipped
however many fail). A row whose rename would overwrite a column it
already has becomes an `UnusableRow` (that row fails); on the first row, `build()` reports
it as a `ConfigurationError`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any

from fanflow._exceptions import ConfigurationError
from fanflow.engine.pipeline._input_rows import Row, UnusableRow
from fanflow.engine.pipeline._input_shuffle import Shuffle, shuffled
from fanflow.engine.pipeline._inputs import RowSource

__all__ = ["InputOptions", "check_renames", "with_options"]


@dataclass(frozen=True, slots=True)
class InputOptions:
    """Checked options of one `input()` call."""

    columns: Mapping[str, str]
    skip: int
    limit: int | None
    shuffle: Shuffle | None = None

    @classmethod
    def checked(
        cls,
        columns: Mapping[str, str] | None,
        skip: int | None,
        limit: int | None,
        shuffle: Mapping[str, int] | None = None,
    ) -> InputOptions:
        return cls(
            _checked_columns(columns or {}),
            _count("skip", skip) or 0,
            _count("limit", limit),
            None if shuffle is None else Shuffle.checked(shuffle),
        )

    @property
    def any(self) -> bool:
        return bool(self.entry())

    def entry(self) -> dict[str, Any]:
        """The options as a pipeline file's input entry writes them (only those set)."""
        entry: dict[str, Any] = {"columns": dict(self.columns)} if self.columns else {}
        entry |= {"shuffle": self.shuffle.describe()} if self.shuffle is not None else {}
        entry |= {"skip": self.skip} if self.skip else {}
        entry |= {"limit": self.limit} if self.limit is not None else {}
        return entry

    def describe(self) -> str:
        return ", ".join(f"{key}={value}" for key, value in self.entry().items())


def with_options(source: RowSource, options: InputOptions) -> RowSource:
    """`source` with `options` applied; `source` itself when there are none."""
    if not options.any:
        return source

    def read() -> Iterator[Row | UnusableRow]:
        stop = None if options.limit is None else options.skip + options.limit
        rows = source.open()
        if options.shuffle is not None:
            rows = shuffled(rows, options.shuffle)
        rows = islice(rows, options.skip, stop)
        if not options.columns:
            return rows
        return (_renamed(row, options.columns) for row in rows)

    length = source.length
    if length is not None:
        length = max(0, length - options.skip)
        length = length if options.limit is None else min(length, options.limit)
    # A source a pipeline file describes keeps its description, with the options; any
    # other is written as the rows read (kind "rows"), but a dataset cannot be written.
    kind = "dataset" if source.kind == "dataset" else "rows"
    entry = None if source.entry is None else {**source.entry, **options.entry()}
    return RowSource(read, length, f"{source.label} ({options.describe()})", kind, entry)


def check_renames(renamed: RowSource, options: InputOptions) -> None:
    """`ConfigurationError` if the first row of `renamed` (a source with `options`
    applied) clashes, or lacks a column that `columns=` renames."""
    first = renamed.first_row()  # a clash makes every row unusable: this raises, saying so
    missing = sorted(old for old, new in options.columns.items() if new not in first and old != new)
    if missing:
        raise ConfigurationError(
            f"input {renamed.label}: columns= renames {missing}, which the first row does "
            f"not have; its columns are {sorted(first)}"
        )


def _renamed(row: Row | UnusableRow, columns: Mapping[str, str]) -> Row | UnusableRow:
    if isinstance(row, UnusableRow):
        return row
    renamed = {columns.get(name, name): value for name, value in row.items()}
    if len(renamed) < len(row):  # a new name was already a column the row keeps
        clash = sorted(
            new for old, new in columns.items() if old in row and new in row and new not in columns
        )
        return UnusableRow(
            f"row with columns {sorted(row)}",
            f"renaming to {clash} would overwrite the column(s) of that name; rename those "
            "too, or choose other names in columns=",
        )
    return renamed


def _checked_columns(columns: Mapping[str, str]) -> Mapping[str, str]:
    if not isinstance(columns, Mapping):
        raise ConfigurationError(
            f"input(columns=...) must be a dict of old name -> new name, not a "
            f"{type(columns).__name__}"
        )
    for old, new in columns.items():
        if not isinstance(old, str) or not isinstance(new, str) or not new:
            raise ConfigurationError(
                f"input(columns=...): {old!r} -> {new!r}; both names must be non-empty text"
            )
    targets = list(columns.values())
    doubled = sorted({new for new in targets if targets.count(new) > 1})
    if doubled:
        raise ConfigurationError(
            f"input(columns=...) renames several columns to {doubled}; each new name once"
        )
    return dict(columns)


def _count(name: str, value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"input({name}={value!r}): give a whole number of rows, 0 or more")
    return value
