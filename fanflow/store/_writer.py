"""The store's writes: rows go from the event loop to a child process that commits them.

SQLite in a thread of the engine's process cost the event loop about as much as the
writes themselves (every INSERT hands the GIL back and forth), and even a thread that only
passed batches on to a child cost the loop ~50 µs per result in GIL hand-offs
(`bench/README.md`). So there is no thread: at the end of each turn of the event loop, the
loop pickles what finished during it to the child's stdin as one frame, without waiting
for earlier frames, and reads the child's replies with `add_reader`. The child commits
all the frames that are waiting in one transaction, so commits grow with the load while
a result waits for no commit but its own.

The future `put()` returns is done once its row is committed: a worker keeps its
concurrency slot until then, so a crash loses at most the tasks in flight. `flush()`
finishes synchronously. The child is `_writer_child.py` (its docstring has the protocol).
"""

from __future__ import annotations

import asyncio
import os
import pickle
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fanflow.store._writer_child import FRAME_LENGTH

__all__ = ["WriterFailed", "Writes"]

BATCH = 512
_CHILD = Path(__file__).with_name("_writer_child.py")
_Row = tuple[Any, ...]
_Staged = tuple[_Row, "asyncio.Future[None] | None"]


class WriterFailed(RuntimeError):
    """The child could not commit a batch, or is gone; the message says which."""


class Writes:
    """Result rows on their way to disk; used from one event loop at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.failure: BaseException | None = None
        self._child: _Child | None = None
        self._staged: list[_Staged] = []
        self._in_flight: deque[list[_Staged]] = deque()  # sent, in order, not yet replied
        self._scheduled = False

    def put(self, row: _Row) -> asyncio.Future[None]:
        """Queue `row`; the future is done once it is committed (or the writes failed).

        A future, not a coroutine: one coroutine layer fewer per task for the caller."""
        done = asyncio.get_running_loop().create_future()
        self._stage(row, done)
        return done

    def put_nowait(self, row: _Row) -> None:
        """Queue `row` without waiting; `flush()` commits it."""
        self._stage(row, None)

    def flush(self) -> None:
        """Commit everything queued, then stop the child (the next put starts another)."""
        child, self._child = self._child, None
        if child is not None:
            child.detach()
            try:
                while self._staged and self.failure is None:
                    child.send(self._next_batch())
                while self._in_flight:
                    self._settle(child.read_reply())
            except WriterFailed as exc:
                self.failure = self.failure or exc
            finally:
                child.close()
        self._drop_all()

    def _stage(self, row: _Row, done: asyncio.Future[None] | None) -> None:
        loop = asyncio.get_running_loop()
        if self._child is not None and self._child.loop is not loop:
            self.flush()  # a new event loop: finish with the old one's child first
        self._staged.append((row, done))
        if self._child is None and self.failure is None:
            try:
                self._child = _Child(self.path, loop, self._settle, self._on_exit)
            except OSError as exc:
                self.failure = WriterFailed(f"could not start the store's writer: {exc}")
        if self.failure is not None:
            _resolve(self._staged)  # every waiting put() raises the failure
            self._staged = []
        elif not self._scheduled:
            self._scheduled = True  # at the end of this loop turn, with what else finished
            loop.call_soon(self._send)

    def _send(self) -> None:
        self._scheduled = False
        while self._staged and self._child is not None:
            self._child.send(self._next_batch())

    def _next_batch(self) -> list[_Row]:
        batch, self._staged = self._staged[:BATCH], self._staged[BATCH:]
        self._in_flight.append(batch)
        return [row for row, _ in batch]

    def _settle(self, error: str | None) -> None:
        """The child replied for the oldest frame in flight."""
        if error is not None and self.failure is None:
            self.failure = WriterFailed(error)
        _resolve(self._in_flight.popleft())

    def _on_exit(self, error: WriterFailed) -> None:
        self.failure = self.failure or error
        self._child = None
        self._drop_all()

    def _drop_all(self) -> None:
        """Release every waiting put(): committed, or failed (`failure` says which)."""
        for batch in self._in_flight:
            _resolve(batch)
        _resolve(self._staged)
        self._in_flight.clear()
        self._staged = []


def _resolve(batch: list[_Staged]) -> None:
    for _, done in batch:
        if done is not None and not done.done() and not done.get_loop().is_closed():
            done.set_result(None)


class _Child:
    """One writer child: non-blocking pipes driven by the loop, until `detach()`."""

    def __init__(
        self,
        path: Path,
        loop: asyncio.AbstractEventLoop,
        on_reply: Callable[[str | None], None],
        on_exit: Callable[[WriterFailed], None],
    ) -> None:
        command = [sys.executable, "-I", "-S", str(_CHILD), str(path)]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.loop, self._on_reply, self._on_exit = loop, on_reply, on_exit
        self._stdin, self._stdout = _fd(self.process.stdin), _fd(self.process.stdout)
        os.set_blocking(self._stdin, False)
        os.set_blocking(self._stdout, False)
        self._unsent = b""
        self._replies = bytearray()
        self._attached = True
        loop.add_reader(self._stdout, self._readable)

    def send(self, rows: list[_Row]) -> None:
        frame = pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)
        part_written = bool(self._unsent)  # the loop is finishing a frame: queue behind it
        self._unsent += FRAME_LENGTH.pack(len(frame)) + frame
        if not part_written:
            self._write()

    def read_reply(self) -> str | None:
        """Blocking, after `detach()`: the next reply (None for ok, else the error)."""
        while True:
            complete, error = _take_reply(self._replies)
            if complete:
                return error
            data = os.read(self._stdout, 65536)
            if not data:
                raise self._gone()
            self._replies += data

    def detach(self) -> None:
        """Leave the loop: from here on, sends and reads block."""
        if self._attached and not self.loop.is_closed():
            self.loop.remove_reader(self._stdout)
            self.loop.remove_writer(self._stdin)
        self._attached = False
        os.set_blocking(self._stdin, True)
        os.set_blocking(self._stdout, True)
        self._write()

    def close(self) -> None:
        """End the child's input and wait for it to commit and exit."""
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()
        self.process.wait()

    def _write(self) -> None:
        while self._unsent:
            try:
                written = os.write(self._stdin, self._unsent)
            except BlockingIOError:
                break
            except OSError:
                self._unsent = b""
                return  # the child is gone: its end of stdout tells (`_readable`)
            self._unsent = self._unsent[written:]
        if self._attached:
            if self._unsent:
                self.loop.add_writer(self._stdin, self._write)
            else:
                self.loop.remove_writer(self._stdin)

    def _readable(self) -> None:
        try:
            data = os.read(self._stdout, 65536)
        except BlockingIOError:
            return
        if not data:
            self.detach()
            self._on_exit(self._gone())
            self.close()
            return
        self._replies += data
        while True:
            complete, error = _take_reply(self._replies)
            if not complete:
                return
            self._on_reply(error)

    def _gone(self) -> WriterFailed:
        code = self.process.wait()
        stderr = self.process.stderr
        detail = stderr.read().decode("utf-8", "replace").strip() if stderr else ""
        return WriterFailed(f"the store's writer process exited with code {code}: {detail}")


def _take_reply(buffer: bytearray) -> tuple[bool, str | None]:
    """Remove one whole reply from `buffer`: (False, None) if there is none yet, else
    (True, None) for a commit, (True, error text) for a failed one."""
    head = 1 + FRAME_LENGTH.size
    if len(buffer) < head:
        return False, None
    if buffer[:1] == b"K":
        del buffer[:head]
        return True, None
    (size,) = FRAME_LENGTH.unpack(buffer[1:head])
    if len(buffer) < head + size:
        return False, None
    message = bytes(buffer[head : head + size]).decode("utf-8", "replace")
    del buffer[: head + size]
    return True, message


def _fd(pipe: Any) -> int:
    assert pipe is not None
    return int(pipe.fileno())
