"""The store's writer child: commits the result rows the engine sends it (see `_writer`).

Run as `python -I -S _writer_child.py DB`, so it starts in a few tens of milliseconds: it
imports only the standard library and keeps no state but its connection.

Protocol: each frame is a 4-byte length and a pickled list of rows. The child commits
every whole frame that has arrived by the time it looks, together, in one transaction
(the engine sends a frame per turn of its event loop without waiting, so under load
several wait), then replies once per frame, in order: `K` + row count, or `E` + length +
message when the commit failed. A row of 11 columns is a reference to a reused answer,
the others are result rows. When its input ends, whether the engine flushed or was
killed, it has committed every whole frame it received, and exits.
"""

from __future__ import annotations

import os
import pickle
import signal
import sqlite3
import struct
import sys

INSERT = "INSERT OR REPLACE INTO results VALUES (" + ",".join("?" * 22) + ")"
# A cache hit is stored as an 11-column reference to the answer's row (`_reuse`).
INSERT_REFERENCE = "INSERT OR REPLACE INTO reused VALUES (?,?,?,?,?,?,?,?,?,?,?)"
REFERENCE_WIDTH = 11
FRAME_LENGTH = struct.Struct("<I")
_READ = 1 << 16  # the pipe's size; a larger read buffer costs an mmap per read


def _serve(path: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the engine's to handle
    connection = sqlite3.connect(path, timeout=30.0)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    pending = bytearray()
    while data := os.read(stdin, _READ):  # whatever has arrived, at least one byte
        pending += data
        frames = _take_frames(pending)
        if frames and not _reply(stdout, _commit(connection, frames)):
            break  # the engine is gone; what it sent is committed
    connection.close()


def _take_frames(pending: bytearray) -> list[list[tuple[object, ...]]]:
    """Remove the whole frames at the start of `pending` and return their rows."""
    frames = []
    while len(pending) >= FRAME_LENGTH.size:
        (size,) = FRAME_LENGTH.unpack_from(pending)
        end = FRAME_LENGTH.size + size
        if len(pending) < end:
            break
        frames.append(pickle.loads(pending[FRAME_LENGTH.size : end]))
        del pending[:end]
    return frames


def _commit(connection: sqlite3.Connection, frames: list[list[tuple[object, ...]]]) -> bytes:
    """Commit all `frames` in one transaction; the replies, one per frame."""
    try:
        with connection:
            for rows in frames:
                references = [row for row in rows if len(row) == REFERENCE_WIDTH]
                if references:
                    rows = [row for row in rows if len(row) != REFERENCE_WIDTH]
                    connection.executemany(INSERT_REFERENCE, references)
                connection.executemany(INSERT, rows)
    except sqlite3.Error as exc:
        message = f"{type(exc).__name__}: {exc}".encode()
        return (b"E" + FRAME_LENGTH.pack(len(message)) + message) * len(frames)
    return b"".join(b"K" + FRAME_LENGTH.pack(len(rows)) for rows in frames)


def _reply(stdout: int, replies: bytes) -> bool:
    try:
        while replies:
            replies = replies[os.write(stdout, replies) :]
    except BrokenPipeError:
        return False
    return True


if __name__ == "__main__":
    _serve(sys.argv[1])
