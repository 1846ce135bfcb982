"""The store's writer child: copies the result rows the engine appends to its log into SQLite.

Run as `python -I -S _writer_child.py DB LOG`, so it starts in a few tens of milliseconds:
it imports only the standard library. The engine (`_writer`) appends frames to LOG; a
frame is an 8-byte header (length, CRC-32) and a pickled list of rows. A row of 11 columns
is a reference to a reused answer (`_reuse`), the others are result rows.

Every `COMMIT_EVERY` seconds, or at once when the engine writes a byte to its stdin, the
child reads the whole frames that are new in LOG and commits them in one transaction,
together with how far into LOG it has come (table `log_tails`), then replies `K` and that
offset (8 bytes). A failed commit replies `E` + length + message and is tried again at
the next turn. When its stdin ends (the engine flushed, or died), it commits what is
left, deletes LOG and its `log_tails` row, and exits. A log whose writer and child both
died is finished the same way by the next `Store` that opens the file (`replay`).

The engine and the child each hold a shared `flock` on LOG while they use it, so a log
that someone can lock exclusively has nobody left to finish it.
"""

from __future__ import annotations

import gc
import io
import os
import pickle
import select
import signal
import sqlite3
import struct
import sys
import zlib
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

INSERT = "INSERT OR REPLACE INTO results VALUES (" + ",".join("?" * 22) + ")"
INSERT_REFERENCE = "INSERT OR REPLACE INTO reused VALUES (?,?,?,?,?,?,?,?,?,?,?)"
REFERENCE_WIDTH = 11
FRAME_HEADER = struct.Struct("<II")  # length, CRC-32 of the pickled rows
REPLY_LENGTH = struct.Struct("<I")
OFFSET = struct.Struct("<Q")
COMMIT_EVERY = 0.25  # seconds: the longer, the larger (and cheaper per row) each commit
_READ = 1 << 20

Rows = list[tuple[object, ...]]


class LogCorrupt(ValueError):
    """A whole frame whose checksum or contents are wrong (a damaged disk, not a crash,
    or a value in a row that is not plain data, which `_records.result_row` prevents)."""


class _RowsOnly(pickle.Unpickler):
    """Rows hold only tuples, strings, bytes and numbers: nothing in a log names a class."""

    def find_class(self, module: str, name: str) -> object:
        raise pickle.UnpicklingError(f"a store log frame names {module}.{name}")


def encode_frame(rows: Rows) -> bytes:
    data = pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)
    return FRAME_HEADER.pack(len(data), zlib.crc32(data)) + data


def take_frames(pending: bytearray) -> tuple[list[Rows], int]:
    """Remove the whole frames at the start of `pending`: their rows, and bytes consumed.

    A frame cut short (the writer died in the middle of it) stays in `pending`."""
    frames, consumed = [], 0
    while len(pending) - consumed >= FRAME_HEADER.size:
        size, checksum = FRAME_HEADER.unpack_from(pending, consumed)
        start = consumed + FRAME_HEADER.size
        if len(pending) - start < size:
            break
        data = pending[start : start + size]
        if zlib.crc32(data) != checksum:
            raise LogCorrupt(f"a frame fails its checksum at byte {consumed} of the log")
        try:
            frames.append(_RowsOnly(io.BytesIO(data)).load())
        except pickle.UnpicklingError as exc:
            raise LogCorrupt(f"the frame at byte {consumed} of the log: {exc}") from exc
        consumed = start + size
    del pending[:consumed]
    return frames, consumed


def commit(connection: sqlite3.Connection, frames: list[Rows], log: str, offset: int) -> None:
    """Insert every row of `frames` and record `offset` as `log`'s tail, in one transaction."""
    rows = [row for frame in frames for row in frame]  # one statement for them all
    references = [row for row in rows if len(row) == REFERENCE_WIDTH]
    if references:
        rows = [row for row in rows if len(row) != REFERENCE_WIDTH]
    with connection:
        connection.executemany(INSERT_REFERENCE, references)
        connection.executemany(INSERT, rows)
        connection.execute("INSERT OR REPLACE INTO log_tails VALUES (?, ?)", (log, offset))


def recorded_tail(connection: sqlite3.Connection, log: str) -> int:
    row = connection.execute("SELECT offset FROM log_tails WHERE log=?", (log,)).fetchone()
    return int(row[0]) if row else 0


def finish(connection: sqlite3.Connection, path: Path) -> None:
    """Every row of the log at `path` is committed: delete it, then its tail."""
    path.unlink(missing_ok=True)
    with connection:
        connection.execute("DELETE FROM log_tails WHERE log=?", (path.name,))


class Tail:
    """The part of one log not committed yet, read from where the last commit ended."""

    def __init__(self, path: Path, connection: sqlite3.Connection, lock: bool = True) -> None:
        self.path, self.name = path, path.name
        self.fd = os.open(path, os.O_RDONLY)
        if lock and fcntl is not None:
            fcntl.flock(self.fd, fcntl.LOCK_SH)
        self.offset = recorded_tail(connection, self.name)  # committed up to here
        os.lseek(self.fd, self.offset, os.SEEK_SET)
        self.unread = bytearray()

    def read(self) -> tuple[list[Rows], int]:
        """The whole frames appended since the last read, and the offset after them."""
        while chunk := os.read(self.fd, _READ):
            self.unread += chunk
        frames, consumed = take_frames(self.unread)
        return frames, self.offset + consumed

    def reread(self) -> None:
        """What was read last failed to commit: read it again next time."""
        os.lseek(self.fd, self.offset, os.SEEK_SET)
        self.unread.clear()

    def close(self) -> None:
        os.close(self.fd)


def replay(connection: sqlite3.Connection, path: Path) -> int:
    """Commit what a log left behind by dead processes holds, then delete it; rows committed.

    Call it only while holding an exclusive lock on the log (`_logs.recover`)."""
    tail = Tail(path, connection, lock=False)
    try:
        frames, offset = tail.read()
        commit(connection, frames, tail.name, offset)
    finally:
        tail.close()
    finish(connection, path)
    return sum(len(rows) for rows in frames)


def _serve(database: str, log: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the engine's to handle
    gc.disable()  # rows are tuples of strings and numbers: no cycles for it to find
    connection = sqlite3.connect(database, timeout=30.0)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    path = Path(log)
    tail = Tail(path, connection)
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    ended, failed, engine_listens = False, False, True
    while not ended:
        ready, _, _ = select.select([stdin], [], [], COMMIT_EVERY)
        if ready:
            ended = not os.read(stdin, 4096)  # a byte: commit now; nothing: the input ended
        reply = _commit_new(connection, tail)
        failed = reply.startswith(b"E")
        if reply and engine_listens:
            engine_listens = _reply(stdout, reply)  # if it is gone, commit what it wrote
    tail.close()
    if not failed:  # else the log stays, for the next store opened on the file (`replay`)
        finish(connection, path)
    connection.close()


def _commit_new(connection: sqlite3.Connection, tail: Tail) -> bytes:
    """Commit the frames new in the log; the reply to send (empty when there were none)."""
    frames, offset = tail.read()
    if offset == tail.offset:
        return b""
    try:
        commit(connection, frames, tail.name, offset)
    except sqlite3.Error as exc:
        tail.reread()
        message = f"{type(exc).__name__}: {exc}".encode()
        return b"E" + REPLY_LENGTH.pack(len(message)) + message
    tail.offset = offset
    return b"K" + OFFSET.pack(offset)


def _reply(stdout: int, reply: bytes) -> bool:
    try:
        while reply:
            reply = reply[os.write(stdout, reply) :]
    except BrokenPipeError:
        return False
    return True


if __name__ == "__main__":
    _serve(sys.argv[1], sys.argv[2])
