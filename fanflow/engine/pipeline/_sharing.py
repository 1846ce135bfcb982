"""Identical tasks of runs going on at the same time on one store: sent once, answer shared.

Two runs of the same pipeline at once (two pipelines in one process, or several
processes) would each send every task: the cache only knows answers already committed.
So a run registers every task it sends, by content key, until its answer is committed:

- in this process, in a registry per store and event loop: an identical task of another
  run waits for that answer and takes it (an ok answer; otherwise it sends the task itself);
- across processes, only while another live run shares the store (`others_running`), with
  a claim per task (`fanflow/store/_claims.py`): a task another process claimed is not
  sent but read from the store once the claim is gone, or sent if its claimant died.

A watcher looks for other runs when the run starts and, cheaply (a `stat` of the lock
folder every 50 ms), whenever a run may have started since; claiming then stays on.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from fanflow._redact import get_logger
from fanflow._values import TaskResult
from fanflow.store import KeyClaims, Store

__all__ = ["Sharing"]

logger = get_logger("fanflow.run")

Outcome = tuple[TaskResult, str]
"""An ok answer and the id of the run that got it."""

_WATCH_EVERY = 0.05  # seconds between looks at the lock folder
_SETTLE = 2.0  # after a change there, look for new runs this long (a run records itself late)
_ANNOUNCE_WAIT = 2.0  # how long to wait for other runs to say they claim their tasks


class _Flight:
    """One task being answered by `owner`; `done` is made once another run waits for it."""

    __slots__ = ("done", "outcome", "owner")

    def __init__(self, owner: Sharing) -> None:
        self.owner = owner
        self.done: asyncio.Event | None = None
        self.outcome: Outcome | None = None

    async def wait(self) -> Outcome | None:
        if self.done is None:
            self.done = asyncio.Event()
        await self.done.wait()
        return self.outcome


class _Registry:
    """The tasks in flight of every run of this process (and event loop) on one store."""

    def __init__(self, store: Store, key: tuple[Path, int]) -> None:
        self.store, self.key = store, key
        self.flights: dict[str, _Flight] = {}
        self.runs: set[str] = set()
        self.claims: KeyClaims | None = None
        self._ready = False
        self._claiming_since = 0.0
        self._stamp: int | None = -1
        self._settle_until = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def join(self, run_id: str) -> None:
        self.runs.add(run_id)
        if self.claims is not None:
            self.claims.announce(run_id)
            return
        self._watch()

    def leave(self, run_id: str) -> None:
        self.runs.discard(run_id)
        if self.runs:
            return
        if self._timer is not None:
            self._timer.cancel()
        if self.claims is not None:
            self.claims.close()
        del _REGISTRIES[self.key]

    async def others_ready(self) -> None:
        """Wait (briefly) until every other live run claims its tasks too."""
        claims = self.claims
        assert claims is not None
        while not self._ready:
            others = self.store.others_running(self.runs)
            waited = time.monotonic() - self._claiming_since
            if waited > _ANNOUNCE_WAIT or all(claims.announced(run) for run in others):
                self._ready = True
            else:
                await asyncio.sleep(0.02)

    def _watch(self) -> None:
        self._timer = None
        try:
            self._look()
        except Exception:  # logged: the runs go on, possibly sending a task twice
            logger.warning(
                "could not look for other runs on %s; a run in another process may send "
                "the same tasks again",
                self.store.path,
                exc_info=True,
            )
            return
        if self.claims is None:
            self._timer = asyncio.get_running_loop().call_later(_WATCH_EVERY, self._watch)

    def _look(self) -> None:
        try:
            stamp: int | None = os.stat(self.store.locks_folder).st_mtime_ns
        except FileNotFoundError:
            stamp = None
        now = time.monotonic()
        if stamp != self._stamp:
            self._stamp, self._settle_until = stamp, now + _SETTLE
        elif now > self._settle_until:
            return
        if self.store.others_running(self.runs):
            self._start_claiming()

    def _start_claiming(self) -> None:
        # Answers this process put so far may still be in its log: commit them, since the
        # other runs read answers from SQLite (`Store.lookup_fresh`).
        self.store.flush()
        claims = KeyClaims(self.store.locks_folder)
        for key in list(self.flights):  # already sent: claimed so that the others wait
            claims.try_claim(key)
        for run_id in self.runs:
            claims.announce(run_id)
        self.claims, self._claiming_since = claims, time.monotonic()
        logger.info(
            "another run is using %s: claiming tasks so that each is sent once", self.store.path
        )


_REGISTRIES: dict[tuple[Path, int], _Registry] = {}


class Sharing:
    """One run's side of the registry: claim a task before sending it, release it after."""

    def __init__(self, store: Store, run_id: str) -> None:
        key = (store.path.resolve(), id(asyncio.get_running_loop()))
        registry = _REGISTRIES.get(key)
        if registry is None:
            registry = _REGISTRIES[key] = _Registry(store, key)
        self.store, self.run_id, self.registry = store, run_id, registry
        self.flights = registry.flights
        registry.join(run_id)

    @property
    def across_processes(self) -> bool:
        """Whether runs in other processes share the store now (they read from SQLite)."""
        return self.registry.claims is not None

    def claim(self, key: str) -> Coroutine[Any, Any, Outcome | None] | None:
        """None: the task is this run's to send. Else await the answer of another run
        (None: it had none, and the task is now this run's to send)."""
        if self.registry.claims is None and key not in self.flights:
            self.flights[key] = _Flight(self)
            return None
        return self._claim(key)

    def release(self, key: str, result: TaskResult | None, origin: str | None = None) -> None:
        """The task's answer is committed (or it has none): let the runs waiting go on."""
        flight = self.flights.get(key)
        if flight is None or flight.owner is not self:
            return
        del self.flights[key]
        claims = self.registry.claims
        if claims is not None:
            claims.release(key)
        if flight.done is not None:
            if result is not None and result.ok:
                flight.outcome = (result, origin or self.run_id)
            flight.done.set()

    def close(self) -> None:
        self.registry.leave(self.run_id)

    async def _claim(self, key: str) -> Outcome | None:
        while (flight := self.flights.get(key)) is not None:
            outcome = await flight.wait()
            if outcome is not None:
                return outcome
        self.flights[key] = _Flight(self)
        claims = self.registry.claims
        if claims is None:
            return None
        try:
            found = await self._claim_across(claims, key)
        except BaseException:
            self.release(key, None)
            raise
        if found is not None:
            self.release(key, *found)
        return found

    async def _claim_across(self, claims: KeyClaims, key: str) -> Outcome | None:
        """Claim `key` from other processes (waiting while one holds it); then the answer
        it committed meanwhile, if any."""
        await self.registry.others_ready()
        pause = 0.02
        while not claims.try_claim(key):
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.5)
        return self.store.lookup_fresh(key)
