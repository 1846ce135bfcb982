"""Per-step figures for the report, gathered in one pass over each step's tasks.

Per task only a few numbers are kept (its latency, when it started, its attempts), never
the task itself, so a stored run of many tasks is read one step at a time in little memory.
A failed task is kept only as the first of its kind (`_failures.FailureGroups`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from fanflow._values import TaskResult, TaskStatus, nearest_rank

__all__ = ["StepFigures", "percentile", "step_figures"]


@dataclass(slots=True)
class StepFigures:
    """What the report shows of one step. `latencies`: per timed task, its request time
    divided by its requests (the mean request latency: timings sum a task's requests);
    `request_times`: (when the task started, requests it sent) per timed task;
    `latencies_by_model`: the same latencies by the model that answered."""

    name: str
    counts: Counter[str] = field(default_factory=Counter)
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    requests: int = 0
    attempts: int = 0
    most_attempts: int = 0
    timed: int = 0
    latencies: list[float] = field(default_factory=list)
    request_times: list[tuple[float, int]] = field(default_factory=list)
    latencies_by_model: dict[str, list[float]] = field(default_factory=dict)
    first_queued: float | None = None

    @property
    def tasks(self) -> int:
        return sum(self.counts.values())

    def add(self, result: TaskResult) -> None:
        self.counts[result.status.value] += 1
        self.cached += result.cached
        self.prompt_tokens += result.usage.prompt_tokens
        self.completion_tokens += result.usage.completion_tokens
        self.cost += result.cost
        self.requests += result.requests
        timing = result.timing
        attempts = result.requests if timing is None else timing.attempts
        self.attempts += attempts
        self.most_attempts = max(self.most_attempts, attempts)
        if timing is None:
            return
        self.timed += 1
        if self.first_queued is None or timing.queued < self.first_queued:
            self.first_queued = timing.queued
        latency = timing.request_latency
        if latency is None:
            return  # no request: nothing to say about latency
        self.latencies.append(latency)
        self.request_times.append((timing.started, timing.attempts))
        self.latencies_by_model.setdefault(result.model or "(default)", []).append(latency)

    def count(self, status: TaskStatus) -> int:
        return self.counts.get(status.value, 0)


def step_figures(
    name: str, results: Iterable[TaskResult], also: Callable[[TaskResult], None]
) -> StepFigures:
    """The figures of one step, calling `also` with each task too (one pass over them)."""
    figures = StepFigures(name)
    for result in results:
        figures.add(result)
        also(result)
    return figures


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (`share` from 0 to 1) of `values`, which is not empty."""
    found = nearest_rank(sorted(values), share)
    assert found is not None, "values is not empty"
    return found
