"""The callbacks of function steps (`@fanflow.step`): what a function's return value
makes of the next step's inputs, and the barrier that hands a group function its rows.

`FunctionOutput` (streaming): a dict is one next input, its keys bound by name; a list
is one next input per item; any other JSON value is one input. Every next input also
holds the item under the function step's name, so the step's column in the rows is the
item itself (the dict), and a parameter named like the step binds it. None never
reaches here: its task ended `filtered`.

`Gather` (barrier): the step before a group function (`group="all"` or `"root"`) keeps
its own callback (`inner`), but its inputs are held until the group is complete and then
become one input: `{param: rows}`, one row per next input the inner callback made, each
the full pipeline row (ancestors' fields, the result, the input's own fields).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from fanflow._exceptions import ConfigurationError
from fanflow._values import TaskInput, TaskResult
from fanflow.callbacks._callbacks import Callback, Produced, as_inputs

__all__ = ["FunctionOutput", "Gather"]


class FunctionOutput(Callback):
    """A function step's return value, as the next step's inputs."""

    binds_target = False  # the function names its own fields

    def __init__(self, step: str) -> None:
        super().__init__()
        self.step = step

    def map(self, result: TaskResult) -> Produced:
        value = result.value
        items = value if isinstance(value, list) else [value]
        return [self._input(item) for item in items]

    def _input(self, item: Any) -> TaskInput:
        if isinstance(item, Mapping):
            return TaskInput({**item, self.step: item})
        return TaskInput({self.step: item})

    def __repr__(self) -> str:
        return f"FunctionOutput(step={self.step!r})"


class Gather(Callback):
    """Holds the inputs `inner` makes for a group function; one input per group."""

    binds_target = False

    def __init__(self, inner: Callback, param: str, by: Literal["root", "all"], where: str):
        super().__init__(param)
        if inner.is_barrier:
            raise ConfigurationError(
                f"{where} gathers the inputs of the step before it, whose callback "
                f"({type(inner).__name__}) is already a barrier; put a function step "
                "between them, or drop the group= or the barrier"
            )
        self.inner, self.group_by, self.where = inner, by, where

    def admit(self, result: TaskResult) -> None:
        """Raises (failing this task only) if `inner` cannot make inputs of it."""
        as_inputs(self.inner.map(result), self.where)

    def reduce(self, results: list[TaskResult]) -> Produced:
        rows: list[dict[str, Any]] = []
        for result in results:
            row = result.row()
            rows.extend({**row, **item.fields} for item in self._inputs(result))
        return TaskInput({self.key or "rows": rows})

    def _inputs(self, result: TaskResult) -> list[TaskInput]:
        return as_inputs(self.inner.map(result), self.where)

    def __repr__(self) -> str:
        return f"Gather(inner={self.inner!r}, key={self.key!r}, by={self.group_by!r})"
