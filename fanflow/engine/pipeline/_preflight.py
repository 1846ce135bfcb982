"""The preflight: `build()` calls each step's `create_workflow` once before any request.

A step whose `create_workflow` raises (a typo such as Dria's `path=` for `prompt=`) would
otherwise fail only once the steps before it had run and been paid for. Each step is
called with the first input row's columns for what comes from the root row, and with
placeholder text for what earlier steps would give (a list of one placeholder for an
`Aggregate` target). Only the first row is read, from its own reader: the run reads all
rows again from the start. `PipelineConfig(preflight=False)` turns it off, for a
`create_workflow` whose logic needs real values from earlier steps (it parses them, say).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fanflow._exceptions import ConfigurationError
from fanflow.callbacks import Aggregate
from fanflow.engine.pipeline._plan import StepPlan
from fanflow.engine.pipeline._tasks import prepare_task

__all__ = ["preflight"]


def preflight(plans: Sequence[StepPlan], first_row: Mapping[str, Any]) -> None:
    """`ConfigurationError` naming the first step whose `create_workflow` fails."""
    produced: dict[str, Any] = {}  # fields earlier steps give, with their placeholders
    for plan in plans:
        fields = _placeholders(plan, first_row, produced)
        if plan.function is not None:  # a function is called with real inputs only
            produced[plan.name] = _placeholder(plan.name)
            continue
        try:
            prepare_task(plan, fields, first_row, (0,) * (plan.index + 1))
        except Exception as exc:  # the user's code: any failure is a build error
            raise _failed(plan, fields, exc) from exc
        produced[plan.name] = _placeholder(plan.name)
        callback = plan.callback
        if callback is not None and callback.target:
            target = callback.target
            aggregated = isinstance(callback, Aggregate)
            produced[target] = [_placeholder(target)] if aggregated else _placeholder(target)


def _placeholders(
    plan: StepPlan, first_row: Mapping[str, Any], produced: Mapping[str, Any]
) -> dict[str, Any]:
    """The fields this step's task would get from earlier steps, as placeholders; and one
    for each required parameter nothing names (a custom callback's own fields)."""
    if plan.accepts_any:
        return dict(produced)
    fields: dict[str, Any] = {}
    for name, required in plan.params.items():
        if name in produced:
            fields[name] = produced[name]
        elif required and name not in first_row:
            fields[name] = _placeholder(name)
    return fields


def _placeholder(name: str) -> str:
    return f"(placeholder for {name})"


def _failed(plan: StepPlan, fields: Mapping[str, Any], exc: Exception) -> ConfigurationError:
    given = ", ".join(sorted(fields)) or "none"
    message = str(exc).removeprefix(f"step {plan.name!r}: ")
    return ConfigurationError(
        f"step {plan.name!r}: create_workflow failed when build() tried it once on the first "
        f"input row ({type(exc).__name__}: {message}); values from earlier steps were "
        f"placeholders ({given}). Fix the step, or if it needs real values from earlier "
        "steps, turn this check off with PipelineConfig(preflight=False)"
    )
