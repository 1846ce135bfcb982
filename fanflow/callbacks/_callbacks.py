"""Callbacks: how the results of one step become the inputs of the next.

Two shapes. Streaming callbacks implement `map(result)` (one result in, inputs out): the
next step starts on each input as soon as it exists. Barrier callbacks implement
`reduce(results)` (a group of results in, inputs out): the group is every ok result that
descends from one pipeline input row (`group_by = "root"`) or the whole step (`"all"`).
Failed results never reach a callback; they are recorded as failures.

`target` is the next step's parameter that a bare value binds to: `key=` when given;
otherwise, when the pipeline is built, the planner infers it from the next step's
signature and works on a copy (`with_target`), so a callback object a user made and
handed to `StepTemplate.then()` is never changed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal

import orjson
from typing_extensions import Self

from fanflow._exceptions import ConfigurationError, ParseError
from fanflow._json import parse_list
from fanflow._values import StepOutput, TaskInput, TaskResult

__all__ = ["Aggregate", "Broadcast", "Callback", "Each", "Scatter", "TemplateCallback"]

Produced = TaskInput | Mapping[str, Any] | list[TaskInput] | list[Mapping[str, Any]]


class Callback:
    """Subclass and implement `map(result)` (streaming) or `reduce(results)` (barrier)."""

    #: Whether a bare value can be bound by name (False: the callback makes its own fields).
    binds_target: ClassVar[bool] = True
    group_by: Literal["root", "all"] = "root"

    def __init__(self, key: str | None = None) -> None:
        self.key = key
        self.target: str | None = key

    @property
    def is_barrier(self) -> bool:
        return type(self).reduce is not Callback.reduce

    def map(self, result: TaskResult) -> Produced:
        raise NotImplementedError(f"{type(self).__name__} must implement map() or reduce()")

    def admit(self, result: TaskResult) -> None:
        """A barrier's check of each result it holds: raising fails that task only."""

    def reduce(self, results: list[TaskResult]) -> Produced:
        raise NotImplementedError(f"{type(self).__name__} must implement map() or reduce()")

    def with_target(self, target: str | None) -> Self:
        """A copy of this callback whose bare values bind to `target`."""
        bound = copy.copy(self)
        bound.target = target
        return bound

    def field(self, value: Any) -> TaskInput:
        """A next-step input holding `value` under `target` (no field when there is none)."""
        return TaskInput({self.target: value}) if self.target else TaskInput()

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in sorted(vars(self).items()))
        return f"{type(self).__name__}({settings})"


class Each(Callback):
    """The default: each result becomes one input of the next step."""

    def map(self, result: TaskResult) -> Produced:
        return self.field(result.result)


class Scatter(Callback):
    """A JSON list result becomes one input per element; a JSON object element is a row.

    An answer cut off at max_tokens (`finish_reason` "length") is refused: its last
    element would be a fragment."""

    def map(self, result: TaskResult) -> Produced:
        where = f"step {result.step!r}, task {result.task_id!r}"
        if result.finish_reason == "length":
            raise ParseError(
                f"{where}: cannot scatter an answer that was cut off at max_tokens "
                f"(finish_reason 'length'): {result.result[-80:]!r} is incomplete; raise "
                "max_tokens (set_workflow_params(max_tokens=...)) or ask for fewer items",
                raw=result.result,
            )
        items = parse_list(result.result, where)
        return [self._element(item) for item in items]

    def _element(self, item: Any) -> TaskInput:
        if isinstance(item, Mapping) and self.key is None:
            return TaskInput(item)
        return self.field(_as_text(item))


class Broadcast(Callback):
    """Each result becomes `n` inputs (n samples, or one per model with `set_models`)."""

    def __init__(self, n: int, key: str | None = None) -> None:
        super().__init__(key)
        # bool is an int, and 2.5 or nan would fail only when the first result arrives
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ConfigurationError(
                f"Broadcast(n) needs n >= 1, got {n!r}; n is a whole number of copies of "
                "each result"
            )
        self.n = n

    def map(self, result: TaskResult) -> Produced:
        return [self.field(result.result) for _ in range(self.n)]


class Aggregate(Callback):
    """A group of results becomes one input holding the list of their texts."""

    def __init__(self, key: str | None = None, by: Literal["root", "all"] = "root") -> None:
        super().__init__(key)
        if by not in ("root", "all"):
            raise ConfigurationError(f"Aggregate(by=...) takes 'root' or 'all', not {by!r}")
        self.group_by = by

    def reduce(self, results: list[TaskResult]) -> Produced:
        return self.field([r.result for r in results])


class TemplateCallback(Callback):
    """A template's own `callback(step)`, as in Dria: a barrier over the whole step."""

    binds_target = False

    def __init__(self, step: str, callback: Callable[[StepOutput], Produced]) -> None:
        super().__init__()
        self.step = step
        self.callback = callback
        self.group_by = "all"

    def reduce(self, results: list[TaskResult]) -> Produced:
        return self.callback(StepOutput(self.step, results))

    def __repr__(self) -> str:
        return f"TemplateCallback(step={self.step!r})"


def as_inputs(produced: Produced, where: str) -> list[TaskInput]:
    """Normalise what a callback returned into a list of `TaskInput`."""
    items = produced if isinstance(produced, list) else [produced]
    inputs: list[TaskInput] = []
    for item in items:
        if isinstance(item, TaskInput):
            inputs.append(item)
        elif isinstance(item, Mapping):
            inputs.append(TaskInput(item))
        else:
            raise ConfigurationError(
                f"{where}: a callback returned {type(item).__name__}; return TaskInput(...) "
                "or a list of them"
            )
    return inputs


def _as_text(value: Any) -> str:
    """Workflow memory holds text, so non-text elements travel as JSON."""
    return value if isinstance(value, str) else orjson.dumps(value).decode()
