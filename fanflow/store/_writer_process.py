"""The engine's handle on one writer child (`_writer_child`): start it, poke it, hear it.

The child's replies are read by the event loop (`add_reader`) and handed to `on_reply`
(the offset of its log committed so far, or an error's text). `retire()` ends its input,
so it commits what is left of its log and exits; `on_exit` then hears whether it did so
cleanly. `finish()` does the same synchronously, for a flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fanflow.store._logs import Log
from fanflow.store._writer_child import OFFSET, REPLY_LENGTH

__all__ = ["WriterFailed", "WriterProcess"]

_CHILD = Path(__file__).with_name("_writer_child.py")


class WriterFailed(RuntimeError):
    """The log could not be written, or the child could not commit, or is gone."""


class WriterProcess:
    """One writer child for one log, with its replies read by the loop until it ends."""

    def __init__(
        self,
        database: Path,
        log: Log,
        loop: asyncio.AbstractEventLoop,
        on_reply: Callable[[Log, int | str], None],
        on_exit: Callable[[WriterProcess, WriterFailed | None], None],
    ) -> None:
        command = [sys.executable, "-I", "-S", str(_CHILD), str(database), str(log.path)]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.log, self.loop = log, loop
        self._on_reply, self._on_exit = on_reply, on_exit
        self._stdin, self._stdout = _fd(self.process.stdin), _fd(self.process.stdout)
        os.set_blocking(self._stdin, False)
        os.set_blocking(self._stdout, False)
        self._replies = bytearray()
        self._attached = True
        self.retired = False
        loop.add_reader(self._stdout, self._readable)

    def poke(self) -> None:
        """Ask the child to commit now rather than at its next turn."""
        # A full pipe holds pokes already; a child that is gone says so on its stdout.
        with contextlib.suppress(BlockingIOError, BrokenPipeError):
            os.write(self._stdin, b"!")

    def retire(self) -> None:
        """End the child's input: it commits the rest of its log, deletes it and exits."""
        self.retired = True
        assert self.process.stdin is not None
        if not self.process.stdin.closed:
            self.process.stdin.close()

    def finish(self) -> None:
        """Blocking: retire the child and hear every reply until it exits (`on_exit` too)."""
        if self._attached and not self.loop.is_closed():
            self.loop.remove_reader(self._stdout)
        self._attached = False
        self.retire()
        self._hear_the_rest()

    def _readable(self) -> None:
        try:
            data = os.read(self._stdout, 65536)
        except BlockingIOError:
            return
        if data:
            self._replies += data
            for reply in _take_replies(self._replies):
                self._on_reply(self.log, reply)
            return
        self.loop.remove_reader(self._stdout)  # the child has ended
        self._attached = False
        self._hear_the_rest()

    def _hear_the_rest(self) -> None:
        try:
            for reply in self._replies_to_the_end():
                self._on_reply(self.log, reply)
        except WriterFailed as exc:
            self._on_exit(self, exc)
            return
        early = None if self.retired else WriterFailed("the store's writer exited early")
        self._on_exit(self, early)

    def _replies_to_the_end(self) -> Iterator[int | str]:
        os.set_blocking(self._stdout, True)
        try:
            while data := os.read(self._stdout, 65536):
                self._replies += data
                yield from _take_replies(self._replies)
            yield from _take_replies(self._replies)
        finally:
            code = self.process.wait()
            error = self._stderr() if code else ""
            for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
                if pipe is not None:
                    pipe.close()
        if code:
            raise WriterFailed(f"the store's writer process exited with code {code}: {error}")

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
