"""Rows to Arrow files a batch at a time: the Arrow file behind `to_dataset()`, and the
Parquet and Arrow shards of `save()` (`_shards`).

A streaming writer needs its schema before the first batch, while rows only show their
columns as they come (scattered JSON objects, several input files). So the schema is
taken from the first batch, and each later batch is fitted to it (missing columns as
nulls, null columns cast); a batch that brings a new column or a type the schema lacks
starts the write again with the merged schema, reading the rows again. Rows from one
run share their columns, so that is rare, and the rows are never all held at once.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

__all__ = ["arrow_tables", "write_arrow_file"]

BATCH_ROWS = 2048
GROUP_ROWS = 64 * 1024  # rows written at once: big enough to read fast, small to hold
GROUP_BYTES = 32 << 20

Rows = Callable[[], Iterator[dict[str, Any]]]  # reads the rows (again) from the start


class _Writer(Protocol):
    def write_table(self, table: pa.Table) -> None: ...
    def close(self) -> None: ...


def write_arrow_file(rows: Rows, target: Path) -> int:
    """Write the rows to an Arrow stream file (what `datasets` memory-maps); the row
    count. The file is written beside `target` and renamed over it, so a dataset still
    mapping an older file keeps reading that one."""
    partial = target.with_name(f"{target.name}.{secrets.token_hex(4)}.partial")
    try:
        written = _write(rows, lambda schema: _Grouped(pa.ipc.new_stream(str(partial), schema)))
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return written


def _write(rows: Rows, open_writer: Callable[[pa.Schema], _Writer]) -> int:
    schema: pa.Schema | None = None
    while True:
        outcome = _one_pass(rows(), schema, open_writer)
        if isinstance(outcome, int):
            return outcome
        schema = outcome  # a batch did not fit: again, with the merged schema


def _one_pass(
    rows: Iterator[dict[str, Any]],
    schema: pa.Schema | None,
    open_writer: Callable[[pa.Schema], _Writer],
) -> int | pa.Schema:
    """Write every batch, or stop at the first that needs a wider schema and return it."""
    writer: _Writer | None = None
    written = 0
    try:
        for table in arrow_tables(rows):
            schema = schema or table.schema
            if table.schema != schema:
                merged = pa.unify_schemas([schema, table.schema], promote_options="default")
                if merged != schema:
                    return merged
                table = _fitted(table, schema)
            writer = writer or open_writer(schema)
            writer.write_table(table)
            written += table.num_rows
        if writer is None:
            writer = open_writer(schema or pa.schema([]))
    finally:
        if writer is not None:
            writer.close()
    return written


def arrow_tables(rows: Iterator[dict[str, Any]]) -> Iterator[pa.Table]:
    """The rows as Arrow tables of a batch each, every row with its batch's columns."""
    for batch in _batches(rows):
        yield pa.Table.from_pylist(_same_columns(batch))


def _fitted(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with `schema`'s columns in its order: missing ones null, null ones cast."""
    columns = [
        table.column(field.name).cast(field.type)
        if field.name in table.column_names
        else pa.nulls(table.num_rows, field.type)
        for field in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def _same_columns(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Arrow takes a batch's columns from its first row; give every row all of them."""
    columns = dict.fromkeys(column for row in batch for column in row)
    return [{column: row.get(column) for column in columns} for row in batch]


def _batches(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH_ROWS:
            yield batch
            batch = []
    if batch:
        yield batch


class _Grouped:
    """Gathers batches into groups of a sensible size before writing them: Parquet row
    groups read faster, and an Arrow file of large record batches is opened by touching
    a few pages (one of 2,048-row batches maps a third of itself into memory on opening)."""

    def __init__(self, writer: _Writer) -> None:
        self._writer = writer
        self._pending: list[pa.Table] = []
        self._rows = self._bytes = 0

    def write_table(self, table: pa.Table) -> None:
        self._pending.append(table)
        self._rows += table.num_rows
        self._bytes += table.nbytes
        if self._rows >= GROUP_ROWS or self._bytes >= GROUP_BYTES:
            self._flush()

    def close(self) -> None:
        self._flush()
        self._writer.close()

    def _flush(self) -> None:
        if self._pending:
            self._writer.write_table(pa.concat_tables(self._pending).combine_chunks())
        self._pending, self._rows, self._bytes = [], 0, 0


def _parquet(target: Path, schema: pa.Schema, compression: str) -> _Writer:
    import pyarrow.parquet as pq

    writer: _Writer = pq.ParquetWriter(str(target), schema, compression=compression)
    return writer
