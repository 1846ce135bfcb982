"""The store's writes: rows go from the event loop to a log file, and on into SQLite.

At the end of each turn of the event loop, the loop appends what finished during it to
its log (`_logs`) as one frame: one `write` to a file, no waiting on another process.
A written row survives the death of this process (it is in the kernel's page cache), so
the future `put()` returns is done then: a worker keeps its concurrency slot until its row
is in the log, and a crash loses at most the tasks in flight.

A child process (`_writer_child`) copies the log into SQLite a few times a second, each
time in one transaction: large commits are what keep the store's cost per result low,
and the child uses the second core (bench/README.md, "the store's log"). Until the child
says a row is committed, `pending` (shared by the stores on one file in this process)
says which frame of the log holds each reusable one, so the cache finds it all the same.

`put(..., committed=True)` is done only once its row is committed (the child is asked to
commit at once): for runs in other processes, which read answers from SQLite.
`flush()` finishes synchronously: the child commits everything, deletes the log, exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fanflow.store._logs import open_log
from fanflow.store._writer_child import (
    OFFSET,
    REFERENCE_WIDTH,
    REPLY_LENGTH,
    encode_frame,
    take_frames,
)

__all__ = ["Frame", "WriterFailed", "Writes"]

BATCH = 512  # rows per frame
_CHILD = Path(__file__).with_name("_writer_child.py")
_Row = tuple[Any, ...]
_Future = asyncio.Future[None]


class WriterFailed(RuntimeError):
    """The log could not be written, or the child could not commit, or is gone."""


class Writes:
    """Result rows on their way to disk; used from one event loop at a time."""

    def __init__(self, path: Path, pending: dict[str, Frame]) -> None:
        self.path = path
        self.pending = pending  # where reusable rows not yet in SQLite are in a log, by key
        self.failure: BaseException | None = None
        self.left: list[Path] = []  # logs flushed after a failure: maybe not all committed
        self._log: _Log | None = None
        self._child: _Child | None = None
        self._staged: list[_Row] = []
        self._keys: list[str] = []  # the staged rows' keys ("": no cache lookup finds it)
        self._written: list[_Future] = []  # done once their rows are in the log
        self._committing: list[_Future] = []  # done once their rows are committed
        # Per frame written and not yet committed: the frame, its keys, futures waiting.
        self._uncommitted: deque[tuple[Frame, list[str], list[_Future]]] = deque()
        self._scheduled = False

    def put(self, row: _Row, key: str = "", committed: bool = False) -> _Future:
        """Queue `row`; the future is done once it is in the log (`committed`: in SQLite)
        or the writes failed. With a `key`, the row answers cache lookups meanwhile.

        A future, not a coroutine: one coroutine layer fewer per task for the caller."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._stage(row, key, loop)
        (self._committing if committed else self._written).append(done)
        return done

    def put_nowait(self, row: _Row) -> None:
        """Queue `row` without waiting; `flush()` commits it."""
        self._stage(row, "", asyncio.get_running_loop())

    def flush(self) -> None:
        """Commit everything queued, then stop the child (the next put starts another)."""
        self._send()
        child, log = self._child, self._log
        self._child = self._log = None
        if child is not None:
            child.detach()
            try:
                for reply in child.replies_to_the_end():
                    self._on_reply(reply)
            except WriterFailed as exc:
                self.failure = self.failure or exc
        if log is not None:
            log.close()
            if self.failure is not None:
                self.left.append(log.path)
        self._release_all()

    def _stage(self, row: _Row, key: str, loop: asyncio.AbstractEventLoop) -> None:
        if self._child is not None and self._child.loop is not loop:
            self.flush()  # a new event loop: finish with the old one's child first
        if self._log is None and self.failure is None:
            self._start(loop)
        self._staged.append(row)
        self._keys.append(key)
        if not self._scheduled:
            self._scheduled = True  # at the end of this loop turn, with what else finished
            loop.call_soon(self._send)

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            path, fd = open_log(self.path)
        except OSError as exc:
            self.failure = WriterFailed(f"could not create a log beside {self.path}: {exc}")
            return
        self._log = _Log(path, fd)
        try:
            self._child = _Child(self.path, path, loop, self._on_reply, self._on_exit)
        except OSError as exc:
            self.failure = WriterFailed(f"could not start the store's writer: {exc}")

    def _send(self) -> None:
        self._scheduled = False
        rows, keys = self._staged, self._keys
        written, committing = self._written, self._committing
        self._staged, self._keys, self._written, self._committing = [], [], [], []
        if rows and self._log is not None:
            try:
                frames = self._log.append(rows)
            except OSError as exc:
                self.failure = self.failure or WriterFailed(
                    f"could not append results to {self._log.path}: {exc}"
                )
            else:
                self._track(frames, keys, committing)
                committing = []
        _resolve(written)
        _resolve(committing)  # only those the log could not take, or with no log
        if self.failure is not None:
            self._release_all()

    def _track(self, frames: list[Frame], keys: list[str], committing: list[_Future]) -> None:
        """Until the child commits them: where the frames' keyed rows are, who waits."""
        for number, frame in enumerate(frames):
            keyed = [key for key in keys[number * BATCH : (number + 1) * BATCH] if key]
            for key in keyed:
                self.pending[key] = frame
            waiting = committing if number == len(frames) - 1 else []
            if keyed or waiting:
                self._uncommitted.append((frame, keyed, waiting))
        if committing and self._child is not None:
            self._child.poke()

    def _on_reply(self, reply: int | str) -> None:
        if isinstance(reply, str):
            self.failure = self.failure or WriterFailed(reply)
            self._release_all()
            return
        while self._uncommitted and self._uncommitted[0][0].end <= reply:
            frame, keyed, committing = self._uncommitted.popleft()
            self._forget(frame, keyed)
            _resolve(committing)

    def _on_exit(self, error: WriterFailed) -> None:
        self.failure = self.failure or error
        self._child = None
        self._release_all()

    def _release_all(self) -> None:
        """Release every waiting put(): committed, or failed (`failure` says which)."""
        for frame, keyed, committing in self._uncommitted:
            self._forget(frame, keyed)
            _resolve(committing)
        self._uncommitted.clear()

    def _forget(self, frame: Frame, keyed: list[str]) -> None:
        for key in keyed:
            if self.pending.get(key) is frame:  # not a later frame with the same key
                del self.pending[key]


def _resolve(futures: list[_Future]) -> None:
    for done in futures:
        if not done.done() and not done.get_loop().is_closed():
            done.set_result(None)


class _Log:
    """The file this writer appends frames to; its offsets are what the child replies in."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self.fd, self.end = path, fd, 0
        self.closed = False

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
        self.closed = True
        os.close(self.fd)


class Frame:
    """Where one frame is in a log, so that a cache hit on a row not yet committed reads it
    back from there (the rows themselves are not kept: holding every row until its commit
    cost the loop ~10 MB and the collector's time)."""

    __slots__ = ("_rows", "end", "log", "size", "start")

    def __init__(self, log: _Log, start: int, size: int) -> None:
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


class _Child:
    """One writer child, with its replies read by the loop until `detach()`."""

    def __init__(
        self,
        database: Path,
        log: Path,
        loop: asyncio.AbstractEventLoop,
        on_reply: Callable[[int | str], None],
        on_exit: Callable[[WriterFailed], None],
    ) -> None:
        command = [sys.executable, "-I", "-S", str(_CHILD), str(database), str(log)]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.loop, self._on_reply, self._on_exit = loop, on_reply, on_exit
        self._stdin, self._stdout = _fd(self.process.stdin), _fd(self.process.stdout)
        os.set_blocking(self._stdin, False)
        os.set_blocking(self._stdout, False)
        self._replies = bytearray()
        self._attached = True
        loop.add_reader(self._stdout, self._readable)

    def poke(self) -> None:
        """Ask the child to commit now rather than at its next turn."""
        # A full pipe holds pokes already; a child that is gone says so on its stdout.
        with contextlib.suppress(BlockingIOError, BrokenPipeError):
            os.write(self._stdin, b"!")

    def detach(self) -> None:
        """Leave the loop, and end the child's input: it commits what is left and exits."""
        if self._attached and not self.loop.is_closed():
            self.loop.remove_reader(self._stdout)
        self._attached = False
        assert self.process.stdin is not None
        self.process.stdin.close()

    def replies_to_the_end(self) -> Iterator[int | str]:
        """Blocking, after `detach()`: every reply until the child exits."""
        os.set_blocking(self._stdout, True)
        try:
            while data := os.read(self._stdout, 65536):
                self._replies += data
                yield from _take_replies(self._replies)
        finally:
            code = self.process.wait()
            error = self._stderr() if code else ""
            for pipe in (self.process.stdout, self.process.stderr):
                if pipe is not None:
                    pipe.close()
        if code:
            raise WriterFailed(f"the store's writer process exited with code {code}: {error}")

    def _readable(self) -> None:
        try:
            data = os.read(self._stdout, 65536)
        except BlockingIOError:
            return
        if data:
            self._replies += data
            for reply in _take_replies(self._replies):
                self._on_reply(reply)
            return
        self.detach()  # the child is gone before its input ended
        try:
            for _ in self.replies_to_the_end():
                pass
            failure = WriterFailed("the store's writer process exited early")
        except WriterFailed as exc:
            failure = exc
        self._on_exit(failure)

    def _stderr(self) -> str:
        stderr = self.process.stderr
        return stderr.read().decode("utf-8", "replace").strip() if stderr else ""


def _take_replies(buffer: bytearray) -> Iterator[int | str]:
    """Remove the whole replies from `buffer`: a committed offset, or an error's text."""
    while buffer:
        if buffer[:1] == b"K":
            if len(buffer) < 1 + OFFSET.size:
                return
            (offset,) = OFFSET.unpack_from(buffer, 1)
            del buffer[: 1 + OFFSET.size]
            yield int(offset)
            continue
        head = 1 + REPLY_LENGTH.size
        if len(buffer) < head:
            return
        (size,) = REPLY_LENGTH.unpack_from(buffer, 1)
        if len(buffer) < head + size:
            return
        message = bytes(buffer[head : head + size]).decode("utf-8", "replace")
        del buffer[: head + size]
        yield message


def _fd(pipe: Any) -> int:
    assert pipe is not None
    return int(pipe.fileno())
