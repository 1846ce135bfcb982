"""A live per-step progress display (rich), refreshed a few times a second.

The dispatcher's events only bump integer counters (cheap on the hot path); a refresh
loop copies them into rich four times a second, which also gives rich its rate and ETA
samples. Shown only on a terminal and when `PipelineConfig.progress` is on.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from types import TracebackType

import anyio
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from fanflow.steps import TaskResult

__all__ = ["ProgressDisplay", "StepCounts"]

REFRESH_PER_SECOND = 4


@dataclass(slots=True)
class StepCounts:
    """Tasks of one step so far."""

    created: int = 0
    running: int = 0
    done: int = 0
    failed: int = 0


class ProgressDisplay:
    """Counts every step's tasks; renders them when `enabled`."""

    def __init__(self, step_names: list[str], enabled: bool) -> None:
        self.counts = [StepCounts() for _ in step_names]
        console = Console(file=sys.stderr)
        self.enabled = enabled and console.is_terminal
        self._progress = Progress(
            TextColumn("{task.description:<16}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("failed {task.fields[failed]}  in flight {task.fields[running]}"),
            TextColumn("{task.fields[rate]}/s"),
            TimeRemainingColumn(),
            console=console,
            auto_refresh=False,
        )
        self._tasks: list[TaskID] = []
        if self.enabled:
            self._tasks = [
                self._progress.add_task(name, total=None, failed=0, running=0, rate="-")
                for name in step_names
            ]

    def event(self, kind: str, step: int, result: TaskResult | None) -> None:
        """The dispatcher's listener."""
        counts = self.counts[step]
        if kind == "created":
            counts.created += 1
        elif kind == "started":
            counts.running += 1
        else:
            counts.running -= 1
            counts.done += 1
            counts.failed += result is not None and not result.ok

    async def refresh_forever(self) -> None:
        while True:
            self.refresh()
            await anyio.sleep(1 / REFRESH_PER_SECOND)

    def refresh(self) -> None:
        if not self.enabled:
            return
        for task_id, counts in zip(self._tasks, self.counts, strict=True):
            self._progress.update(
                task_id,
                completed=counts.done,
                total=max(counts.created, 1),
                failed=counts.failed,
                running=counts.running,
            )
            speed = self._progress.tasks[task_id].speed
            self._progress.update(task_id, rate=f"{speed:.1f}" if speed else "-")
        self._progress.refresh()

    def __enter__(self) -> ProgressDisplay:
        if self.enabled:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.enabled:
            self.refresh()
            self._progress.stop()
