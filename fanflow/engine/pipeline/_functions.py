"""Function steps (`@fanflow.step`) in a run: binding, cache key, the call, its result.

The dispatcher sends an LLM step's task through `_tasks.prepare_task` and `run_workflow`;
a function step's task comes here instead (`StepPlan.function` says which). Its inputs
bind as `create_workflow`'s do (`_tasks.bind_inputs`); a group function gets the list of
rows that its `Gather` made. It costs no request, tokens or cost.

Cache key (the same cache as LLM answers, so a resumed run calls nothing that finished,
filtered tasks included): the function's identity (module, qualified name, and
`version=` or else a hash of its source, so an edited function runs again), its bound
inputs as canonical JSON, and the task's lineage position.

The return value is kept as JSON text (`result`) and parsed back (`value`), so a fresh
run and a resumed one see the same value; a value that is not JSON fails the task.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
import orjson

from fanflow._exceptions import ConfigurationError, ExecutionError
from fanflow._redact import redact
from fanflow._values import Lineage, TaskResult, TaskStatus
from fanflow.callbacks import Callback, Gather
from fanflow.steps import FunctionStep

__all__ = ["FunctionCall", "call_function", "check_group_step", "children_context", "gather"]


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """One function step task: the step and the keyword arguments it is called with."""

    step: FunctionStep
    kwargs: dict[str, Any]

    def key(self, lineage: Lineage) -> str:
        inputs = orjson.dumps(self.kwargs, option=orjson.OPT_SORT_KEYS, default=repr)
        digest = hashlib.sha256(f"function\0{self.step.identity}\0".encode())
        digest.update(inputs)
        digest.update(f"\0{lineage}".encode())
        return digest.hexdigest()


def gather(step: FunctionStep, inner: Callback, previous: str) -> Gather:
    """The barrier that hands group function `step` its rows, around `previous`'s callback.

    A bare value from the step before binds under that step's name (or its `key=`)."""
    assert step.group is not None and step.rows_param is not None
    where = f"step {step.name!r} (group={step.group!r})"
    target = inner.with_target(inner.key or previous) if inner.binds_target else inner
    return Gather(target, step.rows_param, step.group, where)


def check_group_step(step: FunctionStep) -> None:
    """A group function first in the chain: it would have no step to gather from."""
    raise ConfigurationError(
        f"step {step.name!r} (group={step.group!r}) is the first step, so it has no step "
        "before it to gather rows from; put it after a step, or drop group="
    )


def children_context(step: FunctionStep, result: TaskResult) -> Mapping[str, Any]:
    """The ancestors' fields of a function step's next inputs: not the step's result text
    (each next input holds its own item) nor, for a group, the group's list of rows."""
    if step.group is not None:
        return result.context
    return {**result.context, **result.inputs}


async def call_function(
    call: FunctionCall,
    fields: Mapping[str, Any],
    context: Mapping[str, Any],
    lineage: Lineage,
    timeout: float | None,
) -> TaskResult:
    """Call the function once and make its task's result (ok, filtered, failed, timed out)."""
    step = call.step
    status, text, value, error = TaskStatus.OK, "", None, None
    try:
        with anyio.fail_after(timeout):
            returned = await _invoke(step, call.kwargs)
        if returned is None:
            status = TaskStatus.FILTERED
        else:
            text, value = _as_json(step, returned)
    except TimeoutError:
        status, error = TaskStatus.TIMED_OUT, f"function {step.function_name} took over {timeout}s"
    except Exception as exc:  # the user's function: recorded on this task only
        status, error = TaskStatus.FAILED, _failure(step, exc)
    return TaskResult(step.name, lineage, fields, context, status, text, value, error)


async def _invoke(step: FunctionStep, kwargs: dict[str, Any]) -> Any:
    function = step.function
    if step.is_async:
        return await function(**kwargs)
    if step.inline:
        returned = function(**kwargs)
    else:  # a sync function may block: keep it off the event loop
        bound = functools.partial(function, **kwargs)
        returned = await anyio.to_thread.run_sync(bound, abandon_on_cancel=True)
    return await returned if inspect.isawaitable(returned) else returned


def _as_json(step: FunctionStep, returned: Any) -> tuple[str, Any]:
    try:
        text = orjson.dumps(returned).decode()
    except TypeError as exc:
        raise ExecutionError(
            f"step {step.name!r}: function {step.function_name} returned a value that is "
            f"not JSON ({exc}); return a dict with str keys, a list, None, or JSON values"
        ) from exc
    return text, orjson.loads(text)


def _failure(step: FunctionStep, exc: Exception) -> str:
    if isinstance(exc, ExecutionError):
        return redact(str(exc))
    # Any exception's text may quote a secret: redact before it is stored.
    return redact(
        f"step {step.name!r}: function {step.function_name} raised {type(exc).__name__}: {exc}"
    )
