"""`ConcurrencyWindow`: how many requests an endpoint gets at once, adapted to its 429s.

A 429 says "less", but not how much less, and not whether it is about this client's load
at all (many gateways reject a random few requests). So the window reacts the way TCP
reacts to loss, tuned so that random 429s cost little:

- it is halved on a 429, at most once per round trip: a 429 answering a request sent
  before the last cut says nothing new (the cut has not had time to work);
- it grows by one on each success, back up to the cap (or to unlimited when there was
  none). So the window shrinks only while more than about half the answers are 429s;
- when most requests in flight come back 429 (a run of 429s with no success between,
  covering half of what was in flight when it began), the quota is spent: the endpoint
  pauses and the window drops to one request, a probe; while probing, one 429 pauses
  again. The first success ends the probing and the window grows back from one.

All of it is synchronous bookkeeping between awaits; a free slot costs no await.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque

__all__ = ["ConcurrencyWindow"]

_DECREASE = 0.5
_MIN_STREAK = 3  # fewer 429s in a row than this never mean "quota spent", at any load


class ConcurrencyWindow:
    """The adaptive in-flight limit of one endpoint; `cap` None means no fixed cap.

    `held` counts the slots taken (requests admitted, waiting on rates or in flight);
    `limit` is the current window (infinite until the first 429 when there is no cap).
    """

    __slots__ = (
        "_ceiling",
        "_cut_at",
        "_streak_base",
        "_waiters",
        "cap",
        "held",
        "limit",
        "probing",
        "sent",
        "streak",
    )

    def __init__(self, cap: int | None) -> None:
        self.cap = float(cap) if cap else math.inf
        self.limit = self.cap
        self.held = 0
        self.sent = 0  # sequence number the next request gets when sent
        self.streak = 0  # 429s since the last success
        self.probing = False  # after a quota pause, until the first success
        self._cut_at = 0  # requests sent before this sequence number do not cut again
        self._streak_base = 0
        self._ceiling = math.inf  # with no cap: above this load the window lifts again
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot."""
        return len(self._waiters)

    def try_take(self) -> bool:
        """Take a slot now if one is free and nobody is queued before us."""
        if self.held < self.limit and not self._waiters:
            self.held += 1
            return True
        return False

    async def take(self) -> None:
        """Wait, first come first served, until a slot is handed over."""
        slot = asyncio.get_running_loop().create_future()
        self._waiters.append(slot)
        try:
            await slot
        except asyncio.CancelledError:
            if slot.done() and not slot.cancelled():
                self.release()  # handed over just as we were cancelled: pass it on
            else:
                self._waiters.remove(slot)
            raise

    def release(self) -> None:
        self.held -= 1
        if self._waiters:
            self._hand_over()

    def succeeded(self) -> None:
        """A request was answered: end any 429 run and grow the window by one."""
        self.streak = 0
        self.probing = False
        if self.limit < self.cap:
            self.limit += 1
            if self.limit >= self._ceiling:
                self.limit = self.cap
            if self._waiters:
                self._hand_over()

    def rate_limited(self, sequence: int) -> bool:
        """A request sent as number `sequence` got a 429: cut the window if this is news.

        True when the quota looks spent (pause the endpoint): the window is then one.
        """
        if self.streak == 0:
            self._streak_base = self.held
        self.streak += 1
        if sequence >= self._cut_at:
            self._cut()
        if self.probing or self.streak >= max(_MIN_STREAK, self._streak_base / 2):
            self.limit = 1.0
            self.probing = True
            self._cut_at = self.sent
            return True
        return False

    def _cut(self) -> None:
        load = min(self.limit, float(self.held))
        if self.cap == math.inf:
            self._ceiling = max(load, 2.0)
        self.limit = max(1.0, math.floor(load * _DECREASE))
        self._cut_at = self.sent

    def _hand_over(self) -> None:
        waiters = self._waiters
        while waiters and self.held < self.limit:
            slot = waiters.popleft()
            if not slot.done():
                self.held += 1
                slot.set_result(None)
