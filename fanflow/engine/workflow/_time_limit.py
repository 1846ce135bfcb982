"""A run's time limit: `with time_limit(seconds) as scope:` as anyio's `move_on_after`.

On Python 3.11+ it cuts the run as `asyncio.timeout` does, but where `asyncio.timeout`
schedules and cancels a TimerHandle per run, one loop timer per limit value serves every
run under it (bench/README.md, "Micro-costs"). On 3.10 it is anyio's `move_on_after`.
`scope.cancelled_caught` says the limit cut the run.
"""

from __future__ import annotations

import asyncio
import sys
from types import TracebackType
from typing import Any

import anyio

from fanflow._exceptions import ExecutionError

__all__ = ["time_limit"]

if sys.version_info >= (3, 11):

    class _Limit:
        """One run's time limit, entered and left as `asyncio.timeout` is.

        On expiry the run's task is cancelled; on exit that request is withdrawn
        (`uncancel`), and the run's CancelledError counts as the limit's only when no other
        cancellation is pending, so an outer one (anyio cancel scope, `Task.cancel`) is
        never swallowed. `cancelled_caught` says the limit cut the run, as anyio's
        `move_on_after` does on Python 3.10.
        """

        __slots__ = ("cancelled_caught", "cancelling", "clock", "expired", "task", "when")

        def __init__(self, clock: _Clock, task: asyncio.Task[Any], when: float) -> None:
            self.clock = clock
            self.task = task
            self.when = when
            self.cancelling = task.cancelling()
            self.expired = False
            self.cancelled_caught = False

        def __enter__(self) -> _Limit:
            return self

        def __exit__(
            self,
            exc_type: type[BaseException] | None,
            exc: BaseException | None,
            traceback: TracebackType | None,
        ) -> bool:
            self.clock.runs.pop(self, None)
            if not self.expired:
                return False
            others_pending = self.task.uncancel() > self.cancelling
            ours = isinstance(exc, asyncio.CancelledError) and not others_pending
            # A TimeoutError from inside a run that ran out of time reads as running out.
            self.cancelled_caught = ours or isinstance(exc, TimeoutError)
            return self.cancelled_caught

    class _Clock:
        """The time limits of `seconds` on one event loop, kept by one timer.

        Runs under the same limit start, hence expire, in order: `runs` keeps that
        order, one timer at the earliest pending deadline serves them all, and a run that
        ends just leaves the dict (the timer, when it fires, finds the next deadline).
        """

        __slots__ = ("armed", "clocks", "loop", "runs", "seconds")

        def __init__(
            self, loop: asyncio.AbstractEventLoop, seconds: float, clocks: dict[float, _Clock]
        ) -> None:
            self.loop = loop
            self.seconds = seconds
            self.clocks = clocks  # where it is registered, to leave when it has no runs
            self.runs: dict[_Limit, None] = {}
            self.armed = False

        def start(self, task: asyncio.Task[Any]) -> _Limit:
            limit = _Limit(self, task, self.loop.time() + self.seconds)
            self.runs[limit] = None
            if not self.armed:
                self.armed = True
                self.loop.call_at(limit.when, self._expire)
            return limit

        def _expire(self) -> None:
            now = self.loop.time()
            due: list[_Limit] = []
            self.armed = False
            for limit in self.runs:
                if limit.when > now:
                    self.armed = True
                    self.loop.call_at(limit.when, self._expire)
                    break
                due.append(limit)
            for limit in due:
                del self.runs[limit]
                limit.expired = True
                limit.task.cancel()
            if not self.runs and self.clocks.get(self.seconds) is self:
                del self.clocks[self.seconds]  # so limits used once do not pile up

    # The clocks of the loop that last ran a workflow: a process mostly runs one loop. A
    # new loop (another asyncio.run, another thread) gets clocks of its own, and the old
    # ones keep serving their runs until those end.
    _recent: tuple[asyncio.AbstractEventLoop | None, dict[float, _Clock]] = (None, {})

    def time_limit(seconds: float) -> _Limit:
        """Enter to run under a limit of `seconds`, as in `asyncio.timeout(seconds)`."""
        global _recent
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        if task is None:
            raise ExecutionError(
                "run_workflow must run inside an asyncio task: await it from a coroutine "
                "that asyncio.run, a task group or asyncio.create_task runs"
            )
        recent_loop, clocks = _recent
        if recent_loop is not loop:
            clocks = {}
            _recent = (loop, clocks)
        clock = clocks.get(seconds)
        if clock is None:
            clock = clocks[seconds] = _Clock(loop, seconds, clocks)
        return clock.start(task)

else:
    time_limit = anyio.move_on_after
