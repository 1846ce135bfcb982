"""Where a run's results go: the one owner of cache lookups, saving and statistics.

The dispatcher hands every finished task here and asks here whether a task was answered
before; it knows nothing of SQLite, run ids or `use_cache`. With a store, `save` returns
once the result is on disk (so a crash loses at most the tasks in flight), and a save
cut short by cancellation is counted afterwards if its commit landed all the same.
Without a store (`PipelineConfig(store=False)`), results are kept in memory.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Coroutine
from typing import Any

import orjson

from fanflow._exceptions import ExecutionError
from fanflow._values import Lineage, TaskResult, TaskStatus
from fanflow.engine.pipeline._functions import FunctionCall
from fanflow.engine.pipeline._history import StoreSource
from fanflow.engine.pipeline._input_rows import problem_of
from fanflow.engine.pipeline._results import MemorySource, ResultSource, StatsCollector, StepResults
from fanflow.engine.pipeline._reuse import Reuse
from fanflow.engine.pipeline._sharing import Outcome, Sharing
from fanflow.engine.pipeline._tasks import PreparedTask
from fanflow.store import Store, task_key

__all__ = ["ResultSink"]


class ResultSink:
    """Collects one run's results, in the store or in memory, with their statistics."""

    def __init__(
        self,
        store: Store | None,
        run_id: str,
        names: list[str],
        use_cache: bool = True,
        default_model: str | None = None,
        leaves: list[str] | None = None,
    ) -> None:
        self.store, self.run_id, self.names = store, run_id, names
        self.leaves = leaves  # None: the last step
        self.use_cache, self.default_model = use_cache, default_model
        self.collector = StatsCollector()
        for step in names:
            self.collector.add_step(step)
        self.memory = None if store else {step: StepResults(step) for step in names}
        self.saved = 0
        self.reuse: Reuse | None = None  # set by the run's session, with a store
        self.sharing: Sharing | None = None  # likewise, when the cache is on
        self._cut_off: list[TaskResult] = []

    def key(self, task: PreparedTask, lineage: Lineage) -> str:
        """The task's content key; "" without a store (keys only matter to the store)."""
        if self.store is None:
            return ""
        return task_key(task.workflow, task.model or self.default_model, lineage, task.sampling)

    def function_key(self, call: FunctionCall, lineage: Lineage) -> str:
        """A function step task's content key (see `_functions`); "" without a store."""
        return "" if self.store is None else call.key(lineage)

    def cached(self, key: str) -> TaskResult | None:
        """The stored ok result of an earlier task with this key, when the cache is on."""
        if self.store is None or not self.use_cache:
            return None
        found = self.store.lookup_origin(key)
        if found is None:
            return None
        if self.reuse is not None:
            self.reuse.add(found[1])
        return found[0]

    def claim(self, key: str) -> Coroutine[Any, Any, TaskResult | None] | None:
        """None: the task is this run's to send. Else await the ok answer of an identical
        task of another run going on now (None: there is none; this run sends it)."""
        waiting = None if self.sharing is None else self.sharing.claim(key)
        return None if waiting is None else self._shared(waiting)

    def unclaim(self, key: str) -> None:
        """The task claimed under `key` ends without an answer (it was cancelled)."""
        if self.sharing is not None:
            self.sharing.release(key, None)

    async def save(self, step_index: int, key: str, result: TaskResult) -> TaskResult:
        """Keep one finished result; with a store, returns once it is on disk.

        Returns the result kept: if the store cannot write its fields (a key that is not
        a string, a lone surrogate, say from a custom callback), a failed one in its place
        saying why, so that one task fails and the run goes on."""
        if self.store is not None:
            sharing = self.sharing
            committed = sharing is not None and sharing.across_processes
            try:
                await self.store.put(self.run_id, step_index, key, result, committed)
            except TypeError:  # orjson refused a field, before anything was queued
                result = _unstorable(result)
                await self.store.put(self.run_id, step_index, "", result, committed)
            except BaseException:
                self._cut_off.append(result)  # its commit may land all the same
                self.unclaim(key)
                raise
            if self.sharing is not None:
                self.sharing.release(key, result)
        self._record(result)
        return result

    async def _shared(self, waiting: Coroutine[Any, Any, Outcome | None]) -> TaskResult | None:
        found = await waiting
        if found is None:
            return None
        if self.reuse is not None:
            self.reuse.add(found[1])
        return found[0]

    def skip(self, step_index: int, result: TaskResult) -> None:
        """Keep a task that was never run (a budget stop), without waiting for its commit."""
        if self.store is not None:
            self.store.put_nowait(self.run_id, step_index, "", result)
        self._record(result)

    def settle(self) -> ExecutionError | None:
        """After the run: wait for pending commits, then count cut-off saves that landed.

        Returns (rather than raises, so the run's record is still written) the error of
        results that could not be committed."""
        if self.store is None:
            return None
        try:
            self.store.flush()
        except ExecutionError as exc:
            return exc
        for result in self._cut_off:
            if self.store.has(self.run_id, self.names.index(result.step), result.lineage):
                self._record(result)
        self._cut_off.clear()
        return None

    def source(self) -> ResultSource:
        """The run's results, for its `PipelineResult` (read lazily from a store)."""
        if self.store is not None:
            return StoreSource(self.store, self.run_id, self.names, self.leaves)
        assert self.memory is not None
        for step in self.memory.values():  # lineage order, as a store reads them back
            step.results.sort(key=lambda result: result.lineage)
        return MemorySource(list(self.memory.values()), self.leaves)

    def _record(self, result: TaskResult) -> None:
        self.collector.add(result)
        self.saved += 1
        if self.memory is not None:
            self.memory[result.step].results.append(result)


def _unstorable(result: TaskResult) -> TaskResult:
    """A failed stand-in, with no fields, for a result whose fields the store cannot write."""
    try:
        orjson.dumps(result.inputs, default=str)
    except TypeError as exc:
        problem = f"its inputs cannot be stored: {problem_of(result.inputs, str(exc))}"
    else:
        problem = f"the fields it inherits cannot be stored: {problem_of(result.context)}"
    return dataclasses.replace(
        result, status=TaskStatus.FAILED, result="", value=None, inputs={}, context={},
        error=f"task {result.task_id}: {problem}",
    )  # fmt: skip
