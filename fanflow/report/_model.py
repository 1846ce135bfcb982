"""What the report is drawn from: plain values the engine fills in."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from fanflow._values import TaskResult

__all__ = ["ReportInput", "RunGraph", "StepTotals"]

INPUT_NODE = "input"


@dataclass(frozen=True, slots=True)
class RunGraph:
    """The pipeline's shape: steps in plan order, edges between step names, and how each
    step's results flow on (`flows`: "scatter", "broadcast(3)", "route pick 1", ...;
    absent for one input per result)."""

    steps: list[str]
    edges: list[tuple[str, str]]
    flows: dict[str, str] = field(default_factory=dict)

    @classmethod
    def chain(cls, steps: list[str]) -> RunGraph:
        """A straight line of steps (what a run without a recorded graph was)."""
        return cls(list(steps), list(pairwise(steps)))

    def parents(self, step: str) -> list[str]:
        return [source for source, target in self.edges if target == step]


@dataclass(frozen=True, slots=True)
class StepTotals:
    """One step's counts by status and summed usage, as the run's stats keep them."""

    counts: Mapping[str, int]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0
    cost: float = 0.0


@dataclass(frozen=True, slots=True)
class ReportInput:
    """A run as the report reads it. `step_results(name)` gives every task of a step (read
    when called, so a stored run is read one step at a time); `first_rows(n)` the first
    rows; `totals` per-step counts and usage from the run's stats (cheap: no task read)."""

    name: str
    graph: RunGraph
    step_results: Callable[[str], Iterable[TaskResult]]
    first_rows: Callable[[int], list[dict[str, Any]]]
    totals: dict[str, StepTotals]
    wall_time_s: float
    requests: int
    cost: float
    stopped: str | None = None
    config: Mapping[str, Any] | None = None
    row_count: int | None = None  # None: several leaves, the rows are per subset
