"""`PipelineResult.save()`: rows to Parquet, Arrow or JSONL, never half-written.

Rows stream a batch at a time to a staging directory beside the target (same folder, so
the final renames are atomic), and are renamed over the target only once complete: a
crash leaves no partial file under the final name, and a failed overwrite keeps the old
file. Shards: see `_shards`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fanflow._exceptions import ConfigurationError

__all__ = ["DEFAULT_COMPRESSION", "output_format", "save_rows"]

Rows = Callable[[], Iterator[dict[str, Any]]]

DEFAULT_COMPRESSION = "zstd"
FORMATS = ("parquet", "arrow", "jsonl")
CODECS = {
    "parquet": ("zstd", "snappy", "gzip", "brotli", "lz4", "none"),
    "arrow": ("zstd", "lz4", "none"),  # what Arrow IPC buffers can be compressed with
}
JSONL_CODECS = {".gz": "gzip", ".zst": "zstd"}  # by the file's last suffix
SUFFIXES = {".parquet": "parquet", ".arrow": "arrow", ".jsonl": "jsonl"}


def save_rows(
    rows: Rows,
    target: Path,
    fmt: str | None,
    overwrite: bool,
    compression: str | None = DEFAULT_COMPRESSION,
    max_shard_size: int | str = "500MB",
) -> Path:
    """Write the rows to `target` (format from `fmt` or the suffix); the path written.

    The rows go in shards of at most `max_shard_size` (`_shards`): one file when they
    fit and `target` has a suffix, else a directory of numbered shards. `compression`
    is Parquet's or Arrow's codec; JSONL is compressed as its name says (`.jsonl.gz`,
    `.jsonl.zst`), so a plain `.jsonl` stays plain whatever `compression` is."""
    fmt, codec = output_format(target, fmt, compression)
    from fanflow.engine.pipeline._shards import existing_output, write_shards  # pyarrow

    if not overwrite and (existing := existing_output(target, fmt, codec)) is not None:
        raise ConfigurationError(
            f"{existing} already exists; pass overwrite=True to replace it, or save elsewhere"
        )
    return write_shards(rows, target, fmt, max_shard_size, codec)


def output_format(target: Path, fmt: str | None, compression: str | None) -> tuple[str, str | None]:
    """The format `target` is saved in, and its codec (None: uncompressed)."""
    fmt, jsonl_codec = _format_of(target, fmt)
    return fmt, jsonl_codec if fmt == "jsonl" else _codec(fmt, compression)


def _format_of(target: Path, fmt: str | None) -> tuple[str, str | None]:
    """The format and, for JSONL, the codec its suffix asks for (`.jsonl.gz`, `.jsonl.zst`)."""
    suffixes = [s.lower() for s in target.suffixes]
    codec = JSONL_CODECS.get(suffixes[-1]) if suffixes else None
    if fmt is not None:
        if fmt not in FORMATS:
            raise ConfigurationError(
                f"cannot save format {fmt!r}; use format='parquet', 'arrow' or 'jsonl'"
            )
        return fmt, codec if fmt == "jsonl" else None
    if not suffixes:  # a directory of Parquet shards
        return "parquet", None
    inner = suffixes[-2] if codec and len(suffixes) > 1 else suffixes[-1]
    found = SUFFIXES.get(inner)
    if found is None or (codec and found != "jsonl"):
        raise ConfigurationError(
            f"cannot save to {target.name!r}; use .parquet, .arrow or .jsonl "
            "(or .jsonl.gz / .jsonl.zst), or pass format="
        )
    return found, codec


def _codec(fmt: str, compression: str | None) -> str | None:
    """Parquet's or Arrow's codec; None for uncompressed."""
    name = (compression or "none").lower()
    if name not in CODECS[fmt]:
        raise ConfigurationError(
            f"unknown {fmt.capitalize()} compression {compression!r}; "
            f"use one of {', '.join(CODECS[fmt])}"
        )
    return None if name == "none" else name
