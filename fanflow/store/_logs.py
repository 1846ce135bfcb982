"""The store's logs: files beside the store where results land first (see `_writer`).

Each writer appends to a log of its own, `<store>.logs/<pid>-<random>.log`, which its
child process copies into SQLite and deletes when it is done (`_writer_child`). A log is
left behind only when the writer and its child both died (a process group killed, a
power cut) or the child could not commit; the next `Store` opened on the file commits
what it holds and deletes it (`recover`), so a result written to a log is never lost.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections import deque
from pathlib import Path
from typing import Any

from fanflow._redact import get_logger
from fanflow.store._writer_child import (
    REFERENCE_WIDTH,
    LogCorrupt,
    encode_frame,
    replay,
    take_frames,
)

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["BATCH", "Frame", "Log", "logs_folder", "open_log", "recover"]

BATCH = 512  # rows per frame
_Row = tuple[Any, ...]

logger = get_logger("fanflow.store")


def logs_folder(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + ".logs")


class Log:
    """A log this process appends frames to; its offsets are what its child replies in."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self.fd, self.end = path, fd, 0
        self.closed = False
        # Per frame written and not yet committed: the frame, its keys, futures waiting.
        self.uncommitted: deque[tuple[Frame, list[str], list[asyncio.Future[None]]]] = deque()

    @classmethod
    def create(cls, store_path: Path) -> Log:
        return cls(*open_log(store_path))

    def append(self, rows: list[_Row]) -> list[Frame]:
        """Write `rows` in frames of `BATCH` rows; where each frame went."""
        frames = []
        for start in range(0, len(rows), BATCH):
            data = encode_frame(rows[start : start + BATCH])
            unwritten = memoryview(data)
            while unwritten:
                unwritten = unwritten[os.write(self.fd, unwritten) :]
            frames.append(Frame(self, self.end, len(data)))
            self.end += len(data)
        return frames

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self.fd)


class Frame:
    """Where one frame is in a log, so that a cache hit on a row not yet committed reads it
    back from there: the rows themselves are not kept until their commit (why: the
    store's log in bench/README.md)."""

    __slots__ = ("_rows", "end", "log", "size", "start")

    def __init__(self, log: Log, start: int, size: int) -> None:
        self.log, self.start, self.size, self.end = log, start, size, start + size
        self._rows: dict[str, _Row] | None = None  # read once a lookup asks for one

    def row(self, key: str) -> _Row | None:
        """The result row under `key` in this frame, read back from the log."""
        if self._rows is None:
            if self.log.closed:
                return None
            data = bytearray(os.pread(self.log.fd, self.size, self.start))
            [rows], _ = take_frames(data)
            self._rows = {str(row[4]): row for row in rows if len(row) != REFERENCE_WIDTH}
        return self._rows.get(key)


def open_log(store_path: Path) -> tuple[Path, int]:
    """A new log for one writer: its path, and a file descriptor to append to (and read).

    The file is locked (shared) under a temporary name first, so `recover` never takes
    a log whose writer has not locked it yet."""
    folder = logs_folder(store_path)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{os.getpid()}-{os.urandom(6).hex()}"
    starting = folder / f"{name}.new"
    fd = os.open(starting, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_SH)
    path = folder / f"{name}.log"
    os.rename(starting, path)
    return path, fd


def recover(store_path: Path, connection: sqlite3.Connection) -> int:
    """Commit and delete the logs nobody is using any more; how many rows they held.

    Without `fcntl` (Windows) a live log cannot be told from a dead one: none is taken."""
    folder = logs_folder(store_path)
    if fcntl is None or not folder.is_dir():
        return 0
    recovered = 0
    for path in sorted(folder.glob("*.log")):
        recovered += _recover_one(path, store_path, connection)
    return recovered


def _recover_one(path: Path, store_path: Path, connection: sqlite3.Connection) -> int:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return 0  # finished by its child, or by another store, just now
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0  # its writer or child is alive: the log is theirs
        if not path.exists():
            return 0
        try:
            rows = replay(connection, path)
        except (LogCorrupt, sqlite3.Error) as exc:
            logger.error(
                "could not recover results from %s: %s; the file is kept: fix what the "
                "error names (disk space, permissions, another program holding the store) "
                "and the next store opened on %s commits it",
                path, exc, store_path,
            )  # fmt: skip
            return 0
    finally:
        os.close(fd)
    if rows:
        logger.info("recovered %d results from %s, left by a run that stopped", rows, path)
    return rows
