"""The store's logs: files beside the store where results land first (see `_writer`).

Each writer appends to a log of its own, `<store>.logs/<pid>-<random>.log`, which its
child process copies into SQLite and deletes when it is done (`_writer_child`). A log is
left behind only when the writer and its child both died (a process group killed, a
power cut) or the child could not commit; the next `Store` opened on the file commits
what it holds and deletes it (`recover`), so a result written to a log is never lost.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from pathlib import Path

from fanflow._redact import get_logger
from fanflow.store._writer_child import LogCorrupt, replay

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["logs_folder", "open_log", "recover"]

logger = get_logger("fanflow.store")


def logs_folder(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + ".logs")


def open_log(store_path: Path) -> tuple[Path, int]:
    """A new log for one writer: its path, and a file descriptor to append to (and read).

    The file is locked (shared) under a temporary name first, so `recover` never takes
    a log whose writer has not locked it yet."""
    folder = logs_folder(store_path)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
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
                "could not recover results from %s: %s; the file is kept, and the next "
                "store opened on %s tries again",
                path, exc, store_path,
            )  # fmt: skip
            return 0
    finally:
        os.close(fd)
    if rows:
        logger.info("recovered %d results from %s, left by a run that stopped", rows, path)
    return rows
