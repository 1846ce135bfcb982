"""From a chain of step templates to an executable plan, checked before any request.

Binding rules (DESIGN.md, section "callbacks/: between steps", paragraph "Binding"): a
task's `create_workflow` parameters bind first from its callback's fields, then from its
ancestors' fields, nearest first. Ancestors' fields are the input row's columns, every
earlier step's result (under the step's name) and every earlier callback's target. A
callback's bare values bind to its `target`: its `key=`, else the next step's parameter
named like the previous step, else the next step's only parameter, else the only
parameter nothing else can bind. A required parameter that no source can bind, or a
target that is ambiguous, is a `ConfigurationError` raised by `build()`. The binding
itself, per task, is `_tasks.bind_inputs`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from fanflow._exceptions import ConfigurationError
from fanflow.callbacks import Aggregate, Callback
from fanflow.engine.pipeline._functions import check_group_step, gather
from fanflow.steps import FunctionStep, StepTemplate

__all__ = ["StepPlan", "plan_steps"]


@dataclass(slots=True)
class StepPlan:
    """One step of a built pipeline."""

    index: int
    template: StepTemplate
    params: dict[str, bool]
    accepts_any: bool
    callback: Callback | None = None
    function: FunctionStep | None = field(init=False)  # a function step: no workflow

    def __post_init__(self) -> None:
        self.function = self.template if isinstance(self.template, FunctionStep) else None

    @property
    def name(self) -> str:
        return self.template.name


def plan_steps(templates: Sequence[StepTemplate], root_columns: set[str]) -> list[StepPlan]:
    """Plan the chain, inferring callback targets and checking every binding."""
    if not templates:
        raise ConfigurationError("the pipeline has no steps; add some with `builder << Step()`")
    plans = [StepPlan(i, t, t.parameters(), t.accepts_any()) for i, t in enumerate(templates)]
    _check_unique_names(plans)
    known, open_fields = set(root_columns), False
    if plans[0].function is not None and plans[0].function.group is not None:
        check_group_step(plans[0].function)
    _check_bindable(plans[0], known, None, open_fields)
    for previous, nxt in pairwise(plans):
        known.add(previous.name)
        callback = previous.template.flow
        open_fields = open_fields or not callback.binds_target
        if nxt.function is not None and nxt.function.group is not None:
            callback = gather(nxt.function, callback, previous.name)
        elif callback.binds_target and callback.key is None:
            callback = callback.with_target(_infer_target(previous, nxt, known))
        previous.callback = callback
        _check_bindable(nxt, known, callback.target, open_fields)
        if callback.target:
            known.add(callback.target)
    return plans


def _check_unique_names(plans: list[StepPlan]) -> None:
    seen: set[str] = set()
    for plan in plans:
        if plan.name in seen:
            raise ConfigurationError(
                f"two steps are named {plan.name!r}; give one a name, e.g. "
                f"{type(plan.template).__name__}(name='{plan.name}_2')"
            )
        seen.add(plan.name)


def _infer_target(previous: StepPlan, nxt: StepPlan, known: set[str]) -> str | None:
    if previous.name in nxt.params:
        return previous.name
    if len(nxt.params) == 1:
        return next(iter(nxt.params))
    unbound = [name for name in nxt.params if name not in known]
    if len(unbound) <= 1:
        return unbound[0] if unbound else None
    raise ConfigurationError(
        f"step {nxt.name!r} needs {unbound}, which no input column or earlier step provides; "
        f"the results of step {previous.name!r} can fill only one of them: name it with "
        f"key=..., e.g. .{_flow_method(previous)}(key={unbound[0]!r}), or use .custom()"
    )


def _flow_method(plan: StepPlan) -> str:
    return "aggregate" if isinstance(plan.template.flow, Aggregate) else "scatter"


def _check_bindable(plan: StepPlan, known: set[str], target: str | None, open_fields: bool) -> None:
    if open_fields or plan.accepts_any:
        return
    available = known | ({target} if target else set())
    missing = [name for name, required in plan.params.items() if required and name not in available]
    if missing:
        raise ConfigurationError(
            f"step {plan.name!r}: create_workflow needs {missing}, which no input column, "
            f"earlier step or callback provides (available: {sorted(available)}); add the "
            "column to the input rows, give the parameter a default, or rename it"
        )
