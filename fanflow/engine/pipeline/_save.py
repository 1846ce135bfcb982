"""`PipelineResult.save()`: rows to a Parquet or JSONL file, never half-written.

Rows stream a batch at a time to a temporary file beside the target (same folder, so the
final rename is atomic), which is renamed over the target only once complete: a crash
leaves no partial file under the final name, and a failed overwrite keeps the old file.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from fanflow._exceptions import ConfigurationError

__all__ = ["save_rows"]

Rows = Callable[[], Iterator[dict[str, Any]]]

FORMATS = ("parquet", "jsonl")
PARQUET_CODECS = ("zstd", "snappy", "gzip", "brotli", "lz4", "none")
JSONL_CODECS = {".gz": "gzip", ".zst": "zstd"}  # by the file's last suffix
SUFFIXES = {".parquet": "parquet", ".jsonl": "jsonl"}


def save_rows(
    rows: Rows,
    target: Path,
    fmt: str | None,
    overwrite: bool,
    compression: str | None,
    max_shard_size: int | str = "500MB",
) -> Path:
    """Write the rows to `target` (format from `fmt` or the suffix); the path written.

    Parquet goes in shards of at most `max_shard_size` (`_shards`): one file when the
    rows fit, else (or for a path without a suffix) a directory of numbered shards."""
    fmt, jsonl_codec = _format_of(target, fmt)
    if fmt == "parquet":
        compression = _parquet_codec(compression)
    shards = target.with_suffix("") if target.suffix.lower() == ".parquet" else target
    if not overwrite and (target.exists() or (fmt == "parquet" and shards.exists())):
        raise ConfigurationError(
            f"{target} already exists; pass overwrite=True to replace it, or save elsewhere"
        )
    if fmt == "parquet":
        from fanflow.engine.pipeline._shards import write_parquet_shards  # imports pyarrow

        return write_parquet_shards(rows, target, max_shard_size, compression or "zstd")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{secrets.token_hex(4)}.partial")
    try:
        if fmt == "parquet":
            from fanflow.engine.pipeline._arrow import write_parquet  # imports pyarrow

            write_parquet(rows, partial, compression=compression or "zstd")
        else:
            _write_jsonl(rows(), partial, jsonl_codec)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def _format_of(target: Path, fmt: str | None) -> tuple[str, str | None]:
    """The format and, for JSONL, the codec its suffix asks for (`.jsonl.gz`, `.jsonl.zst`)."""
    suffixes = [s.lower() for s in target.suffixes]
    codec = JSONL_CODECS.get(suffixes[-1]) if suffixes else None
    if fmt is not None:
        if fmt not in FORMATS:
            raise ConfigurationError(
                f"cannot save format {fmt!r}; use format='parquet' or format='jsonl'"
            )
        return fmt, codec if fmt == "jsonl" else None
    if not suffixes:  # a directory of Parquet shards
        return "parquet", None
    inner = suffixes[-2] if codec and len(suffixes) > 1 else suffixes[-1]
    found = SUFFIXES.get(inner)
    if found is None or (codec and found != "jsonl"):
        raise ConfigurationError(
            f"cannot save to {target.name!r}; use .jsonl or .parquet "
            "(or .jsonl.gz / .jsonl.zst), or pass format="
        )
    return found, codec


def _parquet_codec(compression: str | None) -> str | None:
    if compression is not None and compression.lower() not in PARQUET_CODECS:
        raise ConfigurationError(
            f"unknown Parquet compression {compression!r}; use one of {', '.join(PARQUET_CODECS)}"
        )
    return compression.lower() if compression else None


def _write_jsonl(rows: Iterator[dict[str, Any]], path: Path, codec: str | None) -> None:
    if codec is None:
        with path.open("wb") as handle:
            _dump(rows, handle.write)
        return
    import pyarrow as pa  # its compressed streams do gzip and zstd without another package

    with pa.CompressedOutputStream(str(path), codec) as stream:
        _dump(rows, stream.write)


def _dump(rows: Iterator[dict[str, Any]], write: Callable[[bytes], Any]) -> None:
    for row in rows:
        write(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE))
