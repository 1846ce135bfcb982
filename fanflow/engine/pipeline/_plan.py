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

In a graph (`_graph.py`) a step's known fields are those of its ancestors only; a join
knows what each of its parents gives, and each parent's result binds under its name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from fanflow._exceptions import ConfigurationError
from fanflow.callbacks import Aggregate, Callback
from fanflow.engine.pipeline._functions import check_group_step, gather
from fanflow.engine.pipeline._graph import Route, Topology
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
    parents: tuple[int, ...] = ()
    children: tuple[int, ...] = ()
    next: int | None = None  # the only child, when it is no join and nothing routes: a chain
    depth: int = 1  # how long this step's tasks' lineages are
    route: Route | None = None  # routes this step's inputs to some of its children
    join: JoinPlan | None = None  # set on a step with several parents
    one_to_one: bool = False  # between a fork and its join: must give one input per result
    # (join, parent) pairs whose parent this step is, or leads to, inside the join's region
    join_paths: tuple[tuple[int, int], ...] = ()
    function: FunctionStep | None = field(init=False)  # a function step: no workflow

    def __post_init__(self) -> None:
        self.function = self.template if isinstance(self.template, FunctionStep) else None

    @property
    def name(self) -> str:
        return self.template.name


@dataclass(slots=True)
class JoinPlan:
    """How a join's tasks are keyed, and what each parent binds."""

    fork: int
    key_length: int
    binds: dict[int, set[str]] = field(default_factory=dict)  # parent -> names it gives


def plan_steps(
    templates: Sequence[StepTemplate], root_columns: set[str], topology: Topology | None = None
) -> list[StepPlan]:
    """Plan the graph (a chain without `topology`), inferring callback targets and
    checking every binding; `_join_plan.plan_graph` plans the joins on top."""
    if not templates:
        raise ConfigurationError("the pipeline has no steps; add some with `builder << Step()`")
    if topology is None:
        topology = Topology(list(templates), [()] + [(i,) for i in range(len(templates) - 1)])
    plans = [StepPlan(i, t, t.parameters(), t.accepts_any()) for i, t in enumerate(templates)]
    _check_unique_names(plans)
    _link(plans, topology)
    first = plans[0].function
    if first is not None and first.group is not None:
        check_group_step(first)  # refused: a group function needs a step before it
    known: list[set[str]] = []
    open_fields: list[bool] = []
    for plan in plans:
        available, target, is_open = _inherited(plans, plan, known, open_fields, root_columns)
        _check_bindable(plan, available, target, is_open)
        known.append(available | ({target} if target else set()))
        open_fields.append(is_open)
    return plans


def _link(plans: list[StepPlan], topology: Topology) -> None:
    for plan, parents in zip(plans, topology.parents, strict=True):
        plan.parents = parents
        for parent in parents:
            plans[parent].children += (plan.index,)
        plan.route = topology.routes.get(plan.index)
        if len(parents) > 1:
            plan.join = JoinPlan(fork=-1, key_length=0)
    for plan in plans:
        plan.depth = plans[plan.parents[0]].depth + 1 if plan.parents else 1
        only = plan.children[0] if len(plan.children) == 1 else None
        if only is not None and plans[only].join is None and plan.route is None:
            plan.next = only
        if plan.children:
            plan.callback = plan.template.flow


def _inherited(
    plans: list[StepPlan],
    plan: StepPlan,
    known: list[set[str]],
    open_fields: list[bool],
    root_columns: set[str],
) -> tuple[set[str], str | None, bool]:
    """What `plan` can bind: its ancestors' fields, and its single parent's target."""
    available, target, is_open = set(root_columns), None, False
    for index in plan.parents:
        parent = plans[index]
        callback = parent.callback
        assert callback is not None
        available |= known[index] | {parent.name}
        is_open = is_open or open_fields[index] or not callback.binds_target
        first_child = plan.index == parent.children[0]
        if first_child and plan.function is not None and plan.function.group is not None:
            # a group function step: its parent's results are gathered into one call
            parent.callback = callback = gather(plan.function, callback, parent.name)
        elif callback.binds_target and callback.key is None and first_child:
            parent.callback = callback = callback.with_target(
                _infer_target(parent, plan, known[index] | {parent.name})
            )
        if callback.target:
            if plan.join is not None:
                available.add(callback.target)
            else:
                target = callback.target
    return available, target, is_open


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
