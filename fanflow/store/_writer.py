"""The store's writes: rows go from the event loop to a log file, and on into SQLite.

At the end of each turn of the event loop, the loop appends what finished during it to
its log (`_logs`) as one frame: one `write` to a file, no waiting on another process.
A written row survives the death of this process (it is in the kernel's page cache), so
the future `put()` returns is done then: a worker keeps its concurrency slot until its row
is in the log, and a crash loses at most the tasks in flight.

A child process (`_writer_child`, driven through `_writer_process`) copies the log into
SQLite a few times a second, each time in one transaction: large commits are what keep
the store's cost per result low, and the child uses the second core (bench/README.md,
"the store's log"). Until the child says a row is committed, `pending` (shared by the
stores on one file in this process) says which frame of the log holds each reusable one,
so the cache finds it all the same. A log that reaches `ROTATE_AT` bytes is handed to its
child to finish and delete while a new log and child take the next rows, so a long run
does not keep a second copy of its results on disk.

`put(..., committed=True)` is done only once its row is committed (the child is asked to
commit at once): for runs in other processes, which read answers from SQLite.
`flush()` finishes synchronously: the children commit everything, delete their logs, exit.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fanflow.store._logs import BATCH, Frame, Log
from fanflow.store._writer_process import WriterFailed, WriterProcess

__all__ = ["ROTATE_AT", "WriterFailed", "Writes"]

ROTATE_AT = 64 << 20  # bytes of log before the next rows go to a new one
_Row = tuple[Any, ...]
_Future = asyncio.Future[None]


class Writes:
    """Result rows on their way to disk; used from one event loop at a time."""

    def __init__(self, path: Path, pending: dict[str, Frame]) -> None:
        self.path = path
        self.pending = pending  # where reusable rows not yet in SQLite are in a log, by key
        self.failure: BaseException | None = None
        self.left: list[Path] = []  # logs flushed after a failure: maybe not all committed
        self._log: Log | None = None
        self._child: WriterProcess | None = None
        self._retiring: list[WriterProcess] = []  # finishing logs that were full
        self._staged: list[_Row] = []
        self._keys: list[str] = []  # the staged rows' keys ("": no cache lookup finds it)
        self._written: list[_Future] = []  # done once their rows are in the log
        self._committing: list[_Future] = []  # done once their rows are committed
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
        """Commit everything queued, then stop the children (the next put starts another)."""
        self._send()
        if self._child is not None:
            self._retiring.append(self._child)
        elif self._log is not None:
            self._closed(self._log)
        self._child = self._log = None
        for child in list(self._retiring):
            child.finish()
        self._retiring.clear()
        self._release_all()

    def unfinished(self) -> list[Path]:
        """The logs flushed after a failure that are still on disk (not all committed)."""
        self.left = [path for path in self.left if path.exists()]
        return self.left

    def recovered(self) -> None:
        """Every log flushed after the failure is committed now: writes may go on."""
        self.failure, self.left = None, []

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
            self._log = Log.create(self.path)
        except OSError as exc:
            self.failure = WriterFailed(f"could not create a log beside {self.path}: {exc}")
            return
        try:
            self._child = WriterProcess(self.path, self._log, loop, self._on_reply, self._on_exit)
        except OSError as exc:
            self.failure = WriterFailed(f"could not start the store's writer: {exc}")

    def _send(self) -> None:
        self._scheduled = False
        rows, keys = self._staged, self._keys
        written, committing = self._written, self._committing
        self._staged, self._keys, self._written, self._committing = [], [], [], []
        log = self._log
        if rows and log is not None:
            try:
                frames = log.append(rows)
            except OSError as exc:
                self.failure = self.failure or WriterFailed(
                    f"could not append results to {log.path}: {exc}"
                )
            else:
                self._track(log, frames, keys, committing)
                committing = []
                if log.end >= ROTATE_AT:
                    self._rotate()
        _resolve(written)
        _resolve(committing)  # only those the log could not take, or with no log
        if self.failure is not None:
            self._release_all()

    def _track(
        self, log: Log, frames: list[Frame], keys: list[str], committing: list[_Future]
    ) -> None:
        """Until the child commits them: where the frames' keyed rows are, who waits."""
        for number, frame in enumerate(frames):
            keyed = [key for key in keys[number * BATCH : (number + 1) * BATCH] if key]
            for key in keyed:
                self.pending[key] = frame
            waiting = committing if number == len(frames) - 1 else []
            if keyed or waiting:
                log.uncommitted.append((frame, keyed, waiting))
        if committing and self._child is not None:
            self._child.poke()

    def _rotate(self) -> None:
        """Hand the full log to its child to finish; the next rows start a new one."""
        if self._child is not None:
            self._child.retire()
            self._retiring.append(self._child)
        self._child = self._log = None

    def _on_reply(self, log: Log, reply: int | str) -> None:
        if isinstance(reply, str):
            self.failure = self.failure or WriterFailed(reply)
            self._release_all()
            return
        uncommitted = log.uncommitted
        while uncommitted and uncommitted[0][0].end <= reply:
            frame, keyed, committing = uncommitted.popleft()
            self._forget(frame, keyed)
            _resolve(committing)

    def _on_exit(self, child: WriterProcess, failure: WriterFailed | None) -> None:
        if failure is not None:
            self.failure = self.failure or failure
        if child is self._child:
            self._child = self._log = None
        if child in self._retiring:
            self._retiring.remove(child)
        self._closed(child.log)
        if self.failure is not None:
            self._release_all()

    def _closed(self, log: Log) -> None:
        """`log` is done with: whatever of it is not committed stays for `recover`."""
        for frame, keyed, committing in log.uncommitted:
            self._forget(frame, keyed)
            _resolve(committing)
        if log.uncommitted or self.failure is not None:
            self.left.append(log.path)
        log.uncommitted.clear()
        log.close()

    def _release_all(self) -> None:
        """Release every waiting put(): committed, or failed (`failure` says which)."""
        logs = [child.log for child in self._retiring]
        if self._log is not None and self._log not in logs:
            logs.append(self._log)
        for log in logs:
            for frame, keyed, committing in log.uncommitted:
                self._forget(frame, keyed)
                _resolve(committing)
            log.uncommitted.clear()

    def _forget(self, frame: Frame, keyed: list[str]) -> None:
        for key in keyed:
            if self.pending.get(key) is frame:  # not a later frame with the same key
                del self.pending[key]


def _resolve(futures: list[_Future]) -> None:
    for done in futures:
        if not done.done() and not done.get_loop().is_closed():
            done.set_result(None)
