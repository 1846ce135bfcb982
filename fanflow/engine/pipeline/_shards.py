"""Export in numbered shards, the way `datasets` names them: Parquet, Arrow and JSONL.

`save(path, max_shard_size=...)` writes the rows to shards of at most `max_shard_size`
bytes: of Arrow data for Parquet and Arrow (the in-memory size `datasets` measures too;
compressed files are usually smaller), of JSON text before compression for JSONL.
Shards are written into a hidden staging directory beside the target and renamed into
place at the end, once their count is known: a crash never leaves a half-written shard,
nor a `-of-N` name that lies.

A path with a suffix (`.parquet`, `.arrow`, `.jsonl`, `.jsonl.gz`, ...) stays one file
when the rows fit in one shard, and becomes a directory of the same name without the
suffixes when they do not; a path without a suffix is always a directory of shards.
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
from fanflow.engine.pipeline._jsonl_shards import write_jsonl_shards

__all__ = [
    "DEFAULT_MAX_SHARD_SIZE",
    "existing_output",
    "parse_size",
    "shard_directory",
    "write_shards",
]

DEFAULT_MAX_SHARD_SIZE = "500MB"
KNOWN_SUFFIXES = (".parquet", ".arrow", ".jsonl", ".gz", ".zst")
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


def shard_directory(target: Path) -> Path:
    """Where the shards of `target` go: `out.jsonl.gz` -> `out`, `out` -> `out`."""
    directory = target
    while directory.suffix.lower() in KNOWN_SUFFIXES:
        directory = directory.with_suffix("")
    if directory == target and target.suffix:  # another suffix, with format= given
        return target.with_suffix("")
    return directory


def existing_output(target: Path, fmt: str, codec: str | None) -> Path | None:
    """What a save to `target` would replace: the file or directory itself, or shards of
    this format in the directory the rows would spill into (an unrelated folder of that
    name, such as the input data's, does not count)."""
    if target.exists():
        return target
    directory = shard_directory(target)
    if any(directory.glob(f"data-*-of-*{_extension(fmt, codec)}")):
        return directory
    return None


def write_shards(
    rows: Rows, target: Path, fmt: str, max_shard_size: int | str, codec: str | None
) -> Path:
    """Write the rows as `fmt` shards of at most `max_shard_size`; the path written
    (`target` itself as one file, or the directory of shards). `codec` compresses
    Parquet and Arrow buffers, or whole JSONL files ("gzip", "zstd", None)."""
    limit = parse_size(max_shard_size)
    extension = _extension(fmt, codec)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{secrets.token_hex(4)}.partial")
    try:
        if fmt == "jsonl":
            staging.mkdir()
            shards = write_jsonl_shards(rows(), staging, limit, codec, extension)
        else:
            shards = _write_tables(rows, staging, fmt, limit, codec, extension)
        directory = shard_directory(target)
        if target.suffix and len(shards) == 1:
            os.replace(shards[0], target)
            _drop_old_shards(directory, extension)  # an earlier save's, which spilled over
            return target
        _move_shards(shards, directory, extension)
        if target != directory and target.is_file():
            target.unlink()  # an earlier save's single file, replaced by the directory
        return directory
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _extension(fmt: str, codec: str | None) -> str:
    if fmt == "jsonl":
        return ".jsonl" + {"gzip": ".gz", "zstd": ".zst"}.get(codec or "", "")
    return f".{fmt}"


def _write_tables(
    rows: Rows, staging: Path, fmt: str, limit: int, codec: str | None, extension: str
) -> list[Path]:
    writers: list[_ShardWriter] = []

    def open_writer(schema: pa.Schema) -> _Writer:
        # A pass that met a wider schema starts again: drop what the last one wrote.
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        writers.append(_ShardWriter(staging, schema, limit, fmt, codec, extension))
        return writers[-1]

    _write(rows, open_writer)
    return writers[-1].paths


def _move_shards(shards: list[Path], directory: Path, extension: str) -> None:
    """Rename the shards into `directory` with their final names, replacing the shards
    of an earlier save there (left behind, they would be read with the new ones)."""
    directory.mkdir(parents=True, exist_ok=True)
    _drop_old_shards(directory, extension)
    total = len(shards)
    for index, shard in enumerate(shards):
        os.replace(shard, directory / f"data-{index:05d}-of-{total:05d}{extension}")


def _drop_old_shards(directory: Path, extension: str) -> None:
    if directory.is_dir():
        for old in directory.glob(f"data-*-of-*{extension}"):
            old.unlink()


class _ShardWriter:
    """A Parquet or Arrow writer that starts a new file whenever the next rows would
    take the current one past the limit (a shard holds at least one row, however large)."""

    def __init__(
        self,
        staging: Path,
        schema: pa.Schema,
        limit: int,
        fmt: str,
        codec: str | None,
        extension: str,
    ) -> None:
        self._staging, self._schema, self._limit = staging, schema, limit
        self._fmt, self._codec, self._extension = fmt, codec, extension
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
        path = self._staging / f"{len(self.paths):05d}{self._extension}"
        self.paths.append(path)
        self._current = _Grouped(self._open(path))
        self._bytes = 0

    def _open(self, path: Path) -> _Writer:
        if self._fmt == "parquet":
            return _parquet(path, self._schema, self._codec or "none")
        # The IPC stream format: what `Dataset.from_file` and `load_dataset("arrow")` read.
        options = pa.ipc.IpcWriteOptions(compression=self._codec)
        writer: _Writer = pa.ipc.new_stream(str(path), self._schema, options=options)
        return writer
