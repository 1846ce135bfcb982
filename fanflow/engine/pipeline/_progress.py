"""A live per-step progress display (rich), refreshed a few times a second.

The dispatcher only bumps integer counters (cheap on the hot path); a refresh loop copies
them into rich four times a second, which also gives rich its rate and ETA samples. Shown
only on a terminal or in a Jupyter notebook (where rich draws into an ipywidgets output,
the `notebooks` extra), and when `PipelineConfig.progress` is on; rich is imported only then.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import TYPE_CHECKING

import anyio

from fanflow.engine.pipeline._dispatcher import StepCounts

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = ["ProgressDisplay"]

REFRESH_PER_SECOND = 4


class ProgressDisplay:
    """Renders every step's `counts` (kept by the dispatcher) when `enabled`."""

    def __init__(self, step_names: list[str], counts: list[StepCounts], enabled: bool) -> None:
        self.counts = counts
        self.enabled = enabled and (sys.stderr.isatty() or _in_notebook())
        self._tasks: list[TaskID] = []
        if self.enabled:
            self._progress = _progress_bars()
            self._tasks = [
                self._progress.add_task(name, total=None, failed=0, running=0, cached=0, rate="-")
                for name in step_names
            ]

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
                cached=counts.cached,
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


def _in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (whose stderr is not a terminal)."""
    ipython = sys.modules.get("IPython")  # never imported here: only if already loaded
    shell = ipython.get_ipython() if ipython is not None else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def _progress_bars() -> Progress:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description:<16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "failed {task.fields[failed]}  in flight {task.fields[running]}"
            "  from store {task.fields[cached]}"
        ),
        TextColumn("{task.fields[rate]}/s"),
        TimeRemainingColumn(),
        console=Console(file=sys.stderr),
        auto_refresh=False,
    )
