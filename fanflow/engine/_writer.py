"""The store's SQLite writes, done in a child process.

Writing from a thread of the engine's own process cost the event loop about as much as
the writes themselves: every row's INSERT hands the GIL back and forth between the writer
thread and the loop (`bench/README.md`). A child process shares no GIL: the store's
writer thread sends it a batch of rows as one pickled frame and waits for its reply,
so the engine's process pays for one pickle and two pipe operations per batch.

The child's program is `_writer_child.py`, run as a script (see there for the protocol).
"""

from __future__ import annotations

import contextlib
import pickle
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

from fanflow.engine._writer_child import FRAME_LENGTH

__all__ = ["WriterFailed", "WriterProcess"]

_CHILD = Path(__file__).with_name("_writer_child.py")


class WriterFailed(RuntimeError):
    """The child could not commit a batch, or is gone; the message says which."""


class WriterProcess:
    """The engine's end of one writer child; used from one thread at a time."""

    def __init__(self, path: Path) -> None:
        command = [sys.executable, "-I", "-S", str(_CHILD), str(path)]
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )

    def commit(self, rows: list[tuple[Any, ...]]) -> None:
        """Send `rows` and return once the child has committed them."""
        stdin, stdout = self._pipes()
        frame = pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            stdin.write(FRAME_LENGTH.pack(len(frame)) + frame)
            stdin.flush()
        except OSError:
            raise self._gone() from None
        kind = stdout.read(1)
        if kind == b"K":
            stdout.read(FRAME_LENGTH.size)
            return
        if kind == b"E":
            (size,) = FRAME_LENGTH.unpack(stdout.read(FRAME_LENGTH.size))
            raise WriterFailed(stdout.read(size).decode("utf-8", "replace"))
        raise self._gone()

    def close(self) -> None:
        """End the child's input and wait for it to commit and exit."""
        stdin, _ = self._pipes()
        with contextlib.suppress(OSError):  # already gone; wait() reaps it either way
            stdin.close()
        self._process.wait()
        for pipe in (self._process.stdout, self._process.stderr):
            if pipe is not None:
                pipe.close()

    def _pipes(self) -> tuple[IO[bytes], IO[bytes]]:
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None
        return stdin, stdout

    def _gone(self) -> WriterFailed:
        code = self._process.wait()
        stderr = self._process.stderr
        detail = stderr.read().decode("utf-8", "replace").strip() if stderr else ""
        return WriterFailed(f"the store's writer process exited with code {code}: {detail}")
