"""The store's writer child: commits the result rows the engine sends it (see `_writer`).

Run as `python -I -S _writer_child.py DB`, so it starts in a few tens of milliseconds: it
imports only the standard library and keeps no state but its connection. Each frame is a
4-byte length and a pickled list of rows; it commits each frame in one transaction and
replies `K` + row count, or `E` + length + message when the commit failed. When its input
ends, whether the engine flushed or was killed, it has committed every whole frame it
received, and exits.
"""

from __future__ import annotations

import pickle
import signal
import sqlite3
import struct
import sys

INSERT = "INSERT OR REPLACE INTO results VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
FRAME_LENGTH = struct.Struct("<I")


def _serve(path: str) -> None:
    """The child: commit every frame read from stdin, reply on stdout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the engine's to handle
    connection = sqlite3.connect(path, timeout=30.0)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    frames, replies = sys.stdin.buffer, sys.stdout.buffer
    while len(head := frames.read(FRAME_LENGTH.size)) == FRAME_LENGTH.size:
        (size,) = FRAME_LENGTH.unpack(head)
        frame = frames.read(size)
        if len(frame) < size:
            break  # the engine died mid-frame: that batch was never acknowledged
        rows = pickle.loads(frame)
        try:
            with connection:
                connection.executemany(INSERT, rows)
        except sqlite3.Error as exc:
            message = f"{type(exc).__name__}: {exc}".encode()
            reply = b"E" + FRAME_LENGTH.pack(len(message)) + message
        else:
            reply = b"K" + FRAME_LENGTH.pack(len(rows))
        try:
            replies.write(reply)
            replies.flush()
        except BrokenPipeError:
            break  # the engine is gone; what it sent is committed
    connection.close()


if __name__ == "__main__":
    _serve(sys.argv[1])
