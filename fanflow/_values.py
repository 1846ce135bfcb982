"""Value types shared by callbacks, steps, the store and the engine: task inputs and results
(and `nearest_rank`, the one percentile their timings are summed up with).

They sit below every package but `adapters` (whose `Usage` they carry), so that callbacks,
steps and the store can all use them without importing one another.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from fanflow._frozen import fast_init
from fanflow.adapters import Usage

__all__ = [
    "Lineage",
    "StepOutput",
    "TaskInput",
    "TaskResult",
    "TaskStatus",
    "TaskTiming",
    "nearest_rank",
]

Lineage = tuple[int, ...]
"""Where a task sits: (root row index, child index at step 1, ..., index at its step)."""


class TaskInput(Mapping[str, Any]):
    """The fields one task of the next step is created from: `TaskInput(question="...")`.

    Fields bind to parameters of the step's `create_workflow` by name; parameters still
    unbound are looked up in the task's ancestors (nearest first). As in Dria, a field is
    also an attribute (`item.question`), except where a method of the same name wins
    (`keys`, `items`, `values`, `get`, `fields`: read those as `item["keys"]`).
    """

    __slots__ = ("fields",)

    def __init__(self, fields: Mapping[str, Any] | None = None, /, **kwargs: Any) -> None:
        self.fields: dict[str, Any] = {**(fields or {}), **kwargs}

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def __getattr__(self, name: str) -> Any:
        # Called only when normal lookup fails, so it costs nothing on the usual paths.
        # `fields` and dunders are never fields: copy and pickle probe for `__deepcopy__`
        # etc. on objects whose `fields` slot is not set yet.
        if name == "fields" or name.startswith("__"):
            raise AttributeError(name)
        try:
            return self.fields[name]
        except KeyError:
            raise AttributeError(
                f"TaskInput has no field {name!r}; its fields are: {', '.join(sorted(self.fields))}"
            ) from None

    def __repr__(self) -> str:
        return f"TaskInput({self.fields!r})"


class TaskStatus(str, Enum):
    """How a task ended. Every task ends with one; none is dropped silently.

    `FILTERED`: a function step (`@fanflow.step`) returned None for it. It is finished,
    cached and counted (`stats.tasks["filtered"]`) but neither a row nor a failure.
    """

    OK = "ok"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    SKIPPED = "skipped"
    FILTERED = "filtered"


@fast_init
@dataclass(frozen=True, slots=True)
class TaskTiming:
    """When one task waited and ran, in seconds since the epoch (`time.time()`).

    `queued`: the task was created (its inputs were ready); `started`: it got a
    concurrency slot; `finished`: its result was ready. Task time is `finished - queued`.
    `latency` is the seconds its model requests took from sending to the complete answer,
    summed over the task's requests (no queueing, no backoff pauses; 0.0 when it sent
    none); `attempts` counts every request sent, retries included.

    A cache hit is timed as this run's reuse of the answer (latency 0.0, attempts 0); a
    task that never ran (skipped) has `started == finished`, the time it was skipped.
    Stored with the result, so `load_run` gives it back; None for results stored before
    timings were recorded.
    """

    queued: float
    started: float
    finished: float
    latency: float = 0.0
    attempts: int = 0

    @property
    def duration(self) -> float:
        """Queued to finished."""
        return self.finished - self.queued

    @property
    def request_latency(self) -> float | None:
        """Mean seconds per request sent (`latency / attempts`); None when none was sent.
        What `fanflow runs show` and the run report give percentiles of."""
        return self.latency / self.attempts if self.attempts else None


def nearest_rank(ordered: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile (`share` from 0 to 1) of sorted values; None for none."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@fast_init  # built once per task (CPU per call: bench/README.md)
@dataclass(frozen=True, slots=True)
class TaskResult:
    """One task's outcome, with its inputs and its place in the pipeline; built once, when
    the task ends, and never changed (`dataclasses.replace` makes an amended copy).

    `result` is the workflow's return text, `value` the same parsed as JSON where it is
    JSON. `context` holds the fields of its ancestors (the pipeline row so far).

    `finish_reason` is how the model's answers ended, as the endpoint said: "stop" for a
    whole answer, "length" when cut off at max_tokens (the result is then incomplete, and a
    step that parses it, a scatter, structured output or a condition, fails saying so),
    "content_filter" and others as the provider sends them; the last answer's, unless an
    earlier answer of the task ended otherwise than "stop"; None when no model was asked
    (or the adapter does not say). Kept in the store; not a column of `rows`.

    `timing` says when it was queued, started and finished, and how long its requests
    took (`TaskTiming`); None for results that were not timed.
    """

    step: str
    lineage: Lineage
    inputs: Mapping[str, Any]
    context: Mapping[str, Any]
    status: TaskStatus = TaskStatus.OK
    result: str = ""
    value: Any = None
    error: str | None = None
    usage: Usage = field(default_factory=Usage)
    model: str | None = None
    requests: int = 0
    cost: float = 0.0
    cached: bool = False
    finish_reason: str | None = None
    timing: TaskTiming | None = None

    @property
    def task_id(self) -> str:
        """`step/lineage`, e.g. `answers/0.3.1`: unique within a run."""
        return f"{self.step}/{'.'.join(map(str, self.lineage))}"

    @property
    def ok(self) -> bool:
        return self.status == TaskStatus.OK

    def row(self) -> dict[str, Any]:
        """This result as a pipeline row: ancestors' fields, inputs, result by step name."""
        return {**self.context, **self.inputs, self.step: self.result}


@dataclass(frozen=True, slots=True)
class StepOutput:
    """What a custom callback sees of a finished step, as Dria's `step`: `output`, its ok
    results, and `input`, the input of each one's task (`input[i]` made `output[i]`).

    `input[i]` holds the task's own fields and, under them, its ancestors' fields (what
    its `create_workflow` could bind), so `step.input[0].topic` reads as in Dria.
    """

    name: str
    output: list[TaskResult]
    input: list[TaskInput] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Made once here, not per access: Dria's callbacks index it inside loops.
        inputs = [TaskInput({**result.context, **result.inputs}) for result in self.output]
        object.__setattr__(self, "input", inputs)
