"""Where a step's time went, from its tasks' timings (`TaskTiming`): for `fanflow runs show`
and the run report.

`step_timings(results)` reads `TaskResult`s (a `PipelineResult`'s, or `load_run`'s);
`Store.step_timings(run_id)` reads only the timing columns, so a run of a million tasks
is summed without parsing its answers. Tasks without a timing (stored by a version that
did not record them) are left out. Latency is `TaskTiming.request_latency` (a task's
mean seconds per request), as in the run report; percentiles are nearest-rank, over the
tasks that sent at least one request (cache hits, function steps and tasks that failed
before sending have no latency to count).
"""

from __future__ import annotations

import math
import sqlite3
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from fanflow._values import TaskResult, nearest_rank

__all__ = ["StepTimings", "step_timings", "stored_step_timings"]


@dataclass(frozen=True, slots=True)
class StepTimings:
    """One step's timings. Times are epoch seconds; durations and latencies seconds.

    `wall`: the step's first task queued to its last finished; `task_time`: the tasks'
    durations (queued to finished) summed, so `task_time / wall` is how many ran at once
    on average. `latency_*`: a task's request latency (sending to complete answer, its
    mean over its requests and retries), p50 / p95 / max over the `requested` tasks that
    sent any; None when none did. `attempts`: requests sent in all, `max_attempts` the most one
    task needed.
    """

    step: str
    tasks: int
    first_queued: float
    last_finished: float
    task_time: float
    requested: int
    latency_p50: float | None
    latency_p95: float | None
    latency_max: float | None
    attempts: int
    max_attempts: int

    @property
    def wall(self) -> float:
        return self.last_finished - self.first_queued


TimingRow = tuple[str, float | None, float | None, float | None, float | None, int | None]
"""(step, queued, started, finished, latency, attempts): one task; NULLs when not timed."""


def step_timings(results: Iterable[TaskResult]) -> dict[str, StepTimings]:
    """Each step's timings (in order of first appearance) from its tasks' results."""
    return _summed(_rows_of(results))


def stored_step_timings(
    connection: sqlite3.Connection, run_id: str, steps: list[str]
) -> dict[str, StepTimings]:
    """`step_timings` of a stored run, reading only the timing columns (`steps`: the run's
    step names by index). A reused answer counts with the reuse's own times."""
    rows = connection.execute(
        "SELECT step_index, queued, started, finished, latency, attempts FROM results"
        " WHERE run_id=? UNION ALL SELECT step_index, queued, started, finished, 0.0, 0"
        " FROM reused WHERE run_id=? ORDER BY 1",
        (run_id, run_id),
    )
    return _summed((steps[index], *rest) for index, *rest in rows)


def _rows_of(results: Iterable[TaskResult]) -> Iterator[TimingRow]:
    for result in results:
        timing = result.timing
        if timing is not None:
            yield (
                result.step, timing.queued, timing.started, timing.finished,
                timing.latency, timing.attempts,
            )  # fmt: skip


@dataclass(slots=True)
class _Sums:
    tasks: int = 0
    first_queued: float = math.inf
    last_finished: float = -math.inf
    task_time: float = 0.0
    attempts: int = 0
    max_attempts: int = 0
    latencies: array[float] = field(default_factory=lambda: array("d"))

    def add(self, queued: float, finished: float, latency: float, attempts: int) -> None:
        self.tasks += 1
        self.first_queued = min(self.first_queued, queued)
        self.last_finished = max(self.last_finished, finished)
        self.task_time += finished - queued
        self.attempts += attempts
        self.max_attempts = max(self.max_attempts, attempts)
        if attempts:
            self.latencies.append(latency / attempts)  # as TaskTiming.request_latency

    def timings(self, step: str) -> StepTimings:
        ordered = sorted(self.latencies)
        return StepTimings(
            step, self.tasks, self.first_queued, self.last_finished, self.task_time,
            len(ordered), nearest_rank(ordered, 0.5), nearest_rank(ordered, 0.95),
            ordered[-1] if ordered else None, self.attempts, self.max_attempts,
        )  # fmt: skip


def _summed(rows: Iterable[TimingRow]) -> dict[str, StepTimings]:
    sums: dict[str, _Sums] = {}
    for step, queued, _started, finished, latency, attempts in rows:
        if queued is None or finished is None:
            continue  # stored before timings were recorded
        found = sums.get(step)
        if found is None:
            found = sums[step] = _Sums()
        found.add(queued, finished, latency or 0.0, attempts or 0)
    return {step: found.timings(step) for step, found in sums.items()}
