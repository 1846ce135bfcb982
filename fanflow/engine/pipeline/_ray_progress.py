"""The driver's live progress over a sharded run: the shards' store files, polled.

Shards write every result to their own store file as it arrives, so the driver reads
their counts from there about once a second (`fanflow.store.run_progress`, one small
query per shard) and shows them summed, per step, in the same display as a local run
(`_progress`); nothing is added to the shards' hot path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from fanflow.engine.pipeline._dispatcher import StepCounts
from fanflow.engine.pipeline._progress import ProgressDisplay
from fanflow.engine.pipeline._ray_worker import ShardJob
from fanflow.store import StepProgress, run_progress

__all__ = ["ShardProgress"]

POLL_SECONDS = 1.0
_NOT_FAILED = ("ok", "filtered")


class ShardProgress:
    """Per-step counts summed over the shards' store files, shown when `enabled`."""

    def __init__(
        self, names: list[str], jobs: Sequence[ShardJob], rows: int, enabled: bool
    ) -> None:
        self.names = names
        self.counts = [StepCounts() for _ in names]
        self.counts[0].created = rows
        self.display = ProgressDisplay(names, self.counts, enabled)
        self._jobs = list(jobs)
        # Each shard's last counts: a finished shard's run no longer reads as running.
        self._last: dict[int, StepProgress] = {}
        self._done: set[int] = set()

    async def follow(self) -> None:
        """Poll and redraw until cancelled."""
        if not self.display.enabled:
            return
        while True:
            await asyncio.to_thread(self.poll)
            self.display.refresh()
            await asyncio.sleep(POLL_SECONDS)

    def finished(self, index: int, steps: dict[str, dict[str, int]]) -> None:
        """Shard `index` is done: its final counts by step and status (`RunStats.steps`)."""
        last = self._last.get(index, {})
        final: StepProgress = {}
        for name, statuses in steps.items():
            step = self.names.index(name)
            failed = sum(n for status, n in statuses.items() if status not in _NOT_FAILED)
            final[step] = (sum(statuses.values()), failed, last.get(step, (0, 0, 0))[2])
        self._last[index] = final
        self._done.add(index)

    def poll(self) -> None:
        totals: dict[int, list[int]] = {}
        for job in self._jobs:
            now = {} if job.index in self._done else run_progress(Path(job.store), job.run_name)
            if now:
                self._last[job.index] = now
            for step, saved in self._last.get(job.index, {}).items():
                total = totals.setdefault(step, [0, 0, 0])
                for i, count in enumerate(saved):
                    total[i] += count
        for step, (done, failed, cached) in totals.items():
            shown = self.counts[step]
            shown.done, shown.failed, shown.cached = done, failed, cached
            shown.created = max(shown.created, done)
