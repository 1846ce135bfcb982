"""Parquet export in numbered shards, the way `datasets` names them.

`save(path, max_shard_size=...)` writes the rows to shards of at most `max_shard_size`
bytes of Arrow data (the in-memory size `datasets` measures too; the Parquet files are
usually smaller, being compressed). Shards are written into a hidden staging directory
beside the target and renamed into place at the end, once their count is known: a
crash never leaves a half-written shard, nor a `-of-N` name that lies.

A path with the `.parquet` suffix stays one file when the rows fit in one shard, and
becomes a directory of the same name without the suffix when they do not; a path
without a suffix is always a directory of shards.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from fanflow._exceptions import ConfigurationError
from fanflow.engine.pipeline._arrow import Rows, _Grouped, _parquet, _write, _Writer

__all__ = ["DEFAULT_MAX_SHARD_SIZE", "parse_size", "write_parquet_shards"]

DEFAULT_MAX_SHARD_SIZE = "500MB"
SHARD_GLOB = "data-*-of-*.parquet"
_UNITS = {
    "": 1, "b": 1,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}  # fmt: skip
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)


def parse_size(size: int | str) -> int:
    """Bytes from an int or text such as "500MB", "1GB", "1.5GiB" (KB/MB/GB are powers
    of 1000, KiB/MiB/GiB of 1024, as in `datasets`)."""
    if isinstance(size, int) and not isinstance(size, bool):
        parsed = size
    elif isinstance(size, str) and (match := _SIZE.match(size)) and match[2].lower() in _UNITS:
        parsed = int(float(match[1]) * _UNITS[match[2].lower()])
    else:
        raise ConfigurationError(
            f"max_shard_size={size!r} is not a size; give bytes as an int or text such "
            f'as "500MB", "1GB" or "512MiB"'
        )
    if parsed <= 0:
        raise ConfigurationError(f"max_shard_size={size!r} must be more than 0 bytes")
    return parsed


def write_parquet_shards(
    rows: Rows, target: Path, max_shard_size: int | str, compression: str = "zstd"
) -> Path:
    """Write the rows as Parquet shards of at most `max_shard_size`; the path written
    (`target` itself as one file, or the directory of shards)."""
    limit = parse_size(max_shard_size)
    as_file = target.suffix.lower() == ".parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{secrets.token_hex(4)}.partial")
    writers: list[_ShardWriter] = []

    def open_writer(schema: pa.Schema) -> _Writer:
        # A pass that met a wider schema starts again: drop what the last one wrote.
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        writers.append(_ShardWriter(staging, schema, limit, compression))
        return writers[-1]

    try:
        _write(rows, open_writer)
        shards = writers[-1].paths
        if as_file and len(shards) == 1:
            os.replace(shards[0], target)
            return target
        directory = target.with_suffix("") if as_file else target
        _move_shards(shards, directory)
        return directory
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _move_shards(shards: list[Path], directory: Path) -> None:
    """Rename the shards into `directory` with their final names, replacing the shards
    of an earlier save there (left behind, they would be read with the new ones)."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob(SHARD_GLOB):
        old.unlink()
    total = len(shards)
    for index, shard in enumerate(shards):
        os.replace(shard, directory / f"data-{index:05d}-of-{total:05d}.parquet")


class _ShardWriter:
    """A Parquet writer that starts a new file whenever the next rows would take the
    current one past the limit (a shard holds at least one row, however large)."""

    def __init__(self, staging: Path, schema: pa.Schema, limit: int, compression: str) -> None:
        self._staging, self._schema, self._limit = staging, schema, limit
        self._compression = compression
        self.paths: list[Path] = []
        self._current: _Writer | None = None
        self._bytes = 0

    def write_table(self, table: pa.Table) -> None:
        for piece in self._pieces(table):
            if self._current is None or (self._bytes and self._bytes + piece.nbytes > self._limit):
                self._next_shard()
            assert self._current is not None
            self._current.write_table(piece)
            self._bytes += piece.nbytes

    def close(self) -> None:
        if self._current is None:
            self._next_shard()  # no rows: one empty shard, so the schema is kept
        assert self._current is not None
        self._current.close()

    def _pieces(self, table: pa.Table) -> Iterator[pa.Table]:
        """The table in slices of about what still fits in the current shard."""
        per_row = max(1, table.nbytes // max(1, table.num_rows))
        start = 0
        while start < table.num_rows:
            room = self._limit - self._bytes if self._current is not None else self._limit
            count = max(1, room // per_row)
            yield table.slice(start, count)
            start += count

    def _next_shard(self) -> None:
        if self._current is not None:
            self._current.close()
        path = self._staging / f"{len(self.paths):05d}.parquet"
        self.paths.append(path)
        self._current = _Grouped(_parquet(path, self._schema, self._compression))
        self._bytes = 0
