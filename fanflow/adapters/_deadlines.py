"""`Deadlines`: futures failed with `TimeoutError` at their deadline, by one loop timer.

A loop timer per request costs a heap push, a cancel and then, as the loop drops
cancelled timers from the head of its heap, a pop that compares timers in Python once
per level of the heap. `FastTransport`'s requests all live under one timeout, so their
deadlines are kept in a dict instead, and one timer, armed at the earliest deadline,
fails those that are due and re-arms at the next (as `engine/workflow/_time_limit` does
for workflow runs).
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

__all__ = ["Deadlines"]


class Deadlines:
    """The pending deadlines (`loop.time()` values) of one event loop's futures."""

    __slots__ = ("armed_at", "loop", "pending", "timer")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: dict[asyncio.Future[Any], float] = {}
        self.timer: asyncio.TimerHandle | None = None
        self.armed_at = math.inf

    def add(self, waiter: asyncio.Future[Any], when: float) -> None:
        """Fail `waiter` with `TimeoutError` at `when` unless it is discarded before."""
        self.pending[waiter] = when
        if when < self.armed_at:
            self._arm(when)

    def discard(self, waiter: asyncio.Future[Any]) -> None:
        """`waiter` is settled: forget its deadline (the timer stays, and finds it gone)."""
        self.pending.pop(waiter, None)

    def close(self) -> None:
        self.pending.clear()
        if self.timer is not None:
            self.timer.cancel()
        self.timer, self.armed_at = None, math.inf

    def _arm(self, when: float) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.armed_at = when
        self.timer = self.loop.call_at(when, self._expire)

    def _expire(self) -> None:
        """Fail what is due; re-arm at the next deadline. A scan, once per deadline
        reached: usually the oldest request's, long answered, so rarely."""
        self.timer, self.armed_at = None, math.inf
        now = self.loop.time()
        due = [waiter for waiter, when in self.pending.items() if when <= now]
        for waiter in due:
            del self.pending[waiter]
            if not waiter.done():
                waiter.set_exception(asyncio.TimeoutError())
        if self.pending:
            self._arm(min(self.pending.values()))
