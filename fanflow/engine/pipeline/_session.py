"""One `execute()` as a recorded run: where results go, the run record, the resume hint.

With a store, results go to disk as they finish and the run's `PipelineResult` reads
them back lazily; without one (`PipelineConfig(store=False)`), they are kept in memory.
Either way statistics are kept as results arrive. An interrupted run (Ctrl-C,
cancellation, an error) is recorded as such and says how to resume.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from fanflow.engine._results import (
    MemorySource,
    PipelineResult,
    ResultSource,
    StatsCollector,
    StepResults,
)
from fanflow.engine._runs import StoreSource, new_run_identity, stats_to_dict
from fanflow.engine._store import Store
from fanflow.steps import TaskResult

if TYPE_CHECKING:
    from fanflow.engine._pipeline import PipelineConfig

__all__ = ["RunSession"]

Clock = Callable[[], tuple[float, "str | None"]]


class RunSession:
    """Collects one run's results and statistics, in the store or in memory."""

    def __init__(self, store: Store | None, names: list[str], run_id: str, name: str) -> None:
        self.store, self.names, self.run_id, self.name = store, names, run_id, name
        self.collector = StatsCollector()
        for step in names:
            self.collector.add_step(step)
        self.memory = None if store else {step: StepResults(step) for step in names}
        self.saved = 0
        self._stats = self.collector.finish(0.0, None)

    @classmethod
    def open(cls, config: PipelineConfig, names: list[str], fingerprint: str) -> RunSession:
        store = None if config.store is False else Store(config.store)
        run_id, name = new_run_identity(config.run_name, names[0])
        if store is not None:
            settings = config.model_dump(mode="json")
            store.start_run(run_id, name, fingerprint, settings, names)
        return cls(store, names, run_id, name)

    def record(self, result: TaskResult) -> None:
        """The dispatcher's sink: one finished task (already saved, with a store)."""
        self.collector.add(result)
        self.saved += 1
        if self.memory is not None:
            self.memory[result.step].results.append(result)

    @contextmanager
    def recording(self, clock: Clock, cut_off: list[TaskResult]) -> Iterator[None]:
        """Around the run: marks the run ok, or interrupted/failed with a resume hint.

        `cut_off` holds the results whose save was interrupted: once pending writes are
        flushed, those that made it to disk are counted like any other saved result.
        """
        status = "failed"
        try:
            yield
            status = "ok"
        except BaseException as exc:
            status = "interrupted" if _is_interruption(exc) else "failed"
            raise
        finally:
            if self.store is not None:
                self.store.flush()
                self._count_saved(cut_off)
            wall, stopped = clock()
            self._stats = self.collector.finish(wall, stopped)
            if self.store is not None:
                self.store.finish_run(self.run_id, status, stats_to_dict(self._stats))
                if status != "ok":
                    self._hint(status)

    def _count_saved(self, cut_off: list[TaskResult]) -> None:
        assert self.store is not None
        for result in cut_off:
            if self.store.has(self.run_id, self.names.index(result.step), result.lineage):
                self.record(result)

    def result(self) -> PipelineResult:
        source: ResultSource
        if self.store is not None:
            source = StoreSource(self.store, self.run_id, self.names)
        else:
            assert self.memory is not None
            source = MemorySource(list(self.memory.values()))
        return PipelineResult(source, stats=self._stats, run_name=self.name)

    def _hint(self, status: str) -> None:
        assert self.store is not None
        print(
            f"fanflow: run {self.name!r} {status}; {self.saved} finished tasks are saved in "
            f"{self.store.path}. Run the same pipeline again to resume: saved tasks are "
            "not sent again.",
            file=sys.stderr,
        )


def _is_interruption(exc: BaseException) -> bool:
    return isinstance(exc, (KeyboardInterrupt, asyncio.CancelledError))
