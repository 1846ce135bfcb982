"""Input rows that cannot be used, and the check that finds them.

A source yields an `UnusableRow` in place of a row it could not read (bytes that are not
UTF-8, a broken JSON line, a CSV line with more cells than its header) or a row that
cannot be used (a column name that is not a string, text holding a lone surrogate, which
no JSON, store or HTTP request can carry). The dispatcher records it as a failed task of
the first step, with no inputs and this row's `message` as the error: so it shows in
`result.failures`, in `stats` (as a failed task) and in the store like any failed task,
and the other rows run. A row that failed never reaches `create_workflow`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["Rooted", "Row", "UnusableRow", "invalid_utf8", "problem_of", "usable"]

Row = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class UnusableRow:
    """An input row that could not be read or used: `where` it is, and the `problem`."""

    where: str
    problem: str

    @property
    def message(self) -> str:
        return f"input {self.where}: {self.problem}; this row was not run"


@dataclass(frozen=True, slots=True)
class Rooted:
    """An input row with its root index given, not counted by the dispatcher: a shard of a
    sharded run (`_ray_run`) feeds its rows with their indices in the whole input, so
    lineages, routes and seeds are those of a run over every row."""

    root: int
    row: Row | UnusableRow


def usable(row: Row, where: str) -> Row | UnusableRow:
    """`row` if it can be sent and stored, else an `UnusableRow` saying why.

    orjson refuses exactly what the store and the request body cannot carry (a key that is
    not a string, a lone surrogate), in one C call; only a refused row is looked at closely.
    """
    try:
        orjson.dumps(row, default=str)
    except TypeError as exc:
        return UnusableRow(where, problem_of(row, str(exc)))
    return row


def invalid_utf8(byte: int, position: str = "") -> str:
    """What to say about a byte that is not UTF-8; `position` e.g. " at column 7"."""
    return (
        f"not valid UTF-8 (byte 0x{byte:02x}{position}); save the file as UTF-8 "
        "(e.g. `iconv -f latin1 -t utf-8`)"
    )


def problem_of(row: Row, detail: str = "") -> str:
    """Why `row` cannot be written as JSON (a non-string key, a lone surrogate, an integer
    beyond 64 bits); `detail`, what the JSON writer said, if nothing more precise is found."""
    for key, value in row.items():
        if not isinstance(key, str):
            return (
                f"column name {key!r} is not a string (in a CSV: a line with more cells "
                "than the header has); name every column with a string"
            )
        problem = _value_problem(value)
        if problem is not None:
            return f"the value of column {key!r} {problem}"
    return (
        f"the row cannot be written as JSON ({detail or 'unknown reason'}); give columns of "
        "text, numbers, lists or dicts"
    )


def _value_problem(value: Any) -> str | None:
    """What makes a (nested) value unusable, or None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return (
                "holds a lone surrogate (text that is not valid Unicode, e.g. bytes "
                "decoded with surrogateescape); fix or drop that text"
            )
        return None
    if isinstance(value, int) and not -(2**63) <= value < 2**64:
        return "is an integer beyond 64 bits, which JSON readers lose; give it as text"
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"holds a dict whose key {key!r} is not a string; use string keys"
            if (problem := _value_problem(item)) is not None:
                return problem
    elif isinstance(value, (list, tuple)):
        for item in value:
            if (problem := _value_problem(item)) is not None:
                return problem
    return None
