"""JSONL shards: rows as JSON lines, a new file whenever the next line would take the
current one past the limit (counted before compression, so shard sizes do not depend
on the codec). `.jsonl.gz` and `.jsonl.zst` go through pyarrow's compressed streams,
which do gzip and zstd without another package."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson

__all__ = ["write_jsonl_shards"]


def write_jsonl_shards(
    rows: Iterator[dict[str, Any]], staging: Path, limit: int, codec: str | None, extension: str
) -> list[Path]:
    """Write the rows into numbered files in `staging`; their paths, in order (one empty
    file when there are no rows)."""
    paths: list[Path] = []
    handle: BinaryIO | None = None
    written = 0
    try:
        for row in rows:
            line = orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE)
            if handle is None or (written and written + len(line) > limit):
                if handle is not None:
                    handle.close()
                handle, written = _open(staging, paths, codec, extension), 0
            handle.write(line)
            written += len(line)
        if handle is None:
            handle = _open(staging, paths, codec, extension)
    finally:
        if handle is not None:
            handle.close()
    return paths


def _open(staging: Path, paths: list[Path], codec: str | None, extension: str) -> BinaryIO:
    path = staging / f"{len(paths):05d}{extension}"
    paths.append(path)
    if codec is None:
        return path.open("wb")
    import pyarrow as pa

    stream: BinaryIO = pa.CompressedOutputStream(str(path), codec)
    return stream
