"""Planning the joins of a graph: each join's fork and key, and the region between them.

See `_graph.py` for the representation. For a join J: its fork is the nearest step that
all of J's parents are or descend from; J's tasks are keyed by the lineage of an input
the fork made (`key_length` = the fork's depth + 1), which is also the J task's lineage.
The region is every step strictly between the fork and J: each must give one input per
result (no barrier there, checked here; one input, checked per task), and each knows the
(join, parent) pairs it leads to, so a task of it that fails or is routed away can tell
the join that parent will not come.
"""

from __future__ import annotations

from fanflow._exceptions import ConfigurationError
from fanflow.engine.pipeline._graph import Topology
from fanflow.engine.pipeline._plan import JoinPlan, StepPlan, plan_steps

__all__ = ["plan_graph", "plan_joins"]


def plan_graph(topology: Topology, root_columns: set[str]) -> list[StepPlan]:
    """Every step planned and checked, joins included (`ConfigurationError` at build)."""
    plans = plan_steps(topology.templates, root_columns, topology)
    if any(plan.join is not None for plan in plans):
        plan_joins(plans)
    return plans


def plan_joins(plans: list[StepPlan]) -> None:
    ancestors: list[set[int]] = []
    for plan in plans:
        mine: set[int] = set()
        for parent in plan.parents:
            mine |= ancestors[parent] | {parent}
        ancestors.append(mine)
        if plan.join is None:
            plan.depth = plans[plan.parents[0]].depth + 1 if plan.parents else 1
            continue
        plan.join = _join_of(plans, plan, ancestors)
        plan.depth = plan.join.key_length
        _mark_region(plans, plan, ancestors)
    routed = _routed_steps(plans)
    for plan in plans:
        if plan.join is not None:
            _check_routed_parents(plans, plan, routed, ancestors)


def _join_of(plans: list[StepPlan], plan: StepPlan, ancestors: list[set[int]]) -> JoinPlan:
    common = set.intersection(*(ancestors[p] | {p} for p in plan.parents))
    fork = max(common)  # indexes are topological: the highest common one is the nearest
    binds: dict[int, set[str]] = {}
    for parent in plan.parents:
        callback = plans[parent].callback
        target = callback.target if callback is not None else None
        binds[parent] = {plans[parent].name} | ({target} if target else set())
    return JoinPlan(fork, plans[fork].depth + 1, binds)


def _mark_region(plans: list[StepPlan], join: StepPlan, ancestors: list[set[int]]) -> None:
    assert join.join is not None
    fork = join.join.fork
    region = [s for s in ancestors[join.index] if s != fork and fork in ancestors[s]]
    for index in sorted(region):
        step = plans[index]
        callback = step.callback
        if callback is not None and callback.is_barrier:
            raise ConfigurationError(
                f"step {step.name!r} lies between step {plans[fork].name!r} and the join "
                f"{join.name!r}, so it must give one input per result; its "
                f"{type(callback).__name__} waits for a group. Move the barrier before "
                f"{plans[fork].name!r} or after {join.name!r}"
            )
        step.one_to_one = True
        step.join_paths += tuple(
            (join.index, parent)
            for parent in join.parents
            if parent != fork and (parent == index or index in ancestors[parent])
        )


def _routed_steps(plans: list[StepPlan]) -> set[int]:
    routed: set[int] = set()
    for plan in plans:
        if plan.route is not None:
            names = set(plan.route.names)
            routed |= {c for c in plan.children if plans[c].name in names}
    return routed


def _check_routed_parents(
    plans: list[StepPlan], join: StepPlan, routed: set[int], ancestors: list[set[int]]
) -> None:
    """A parent that a Route may skip binds only where the join has a default."""
    assert join.join is not None
    for parent, names in join.join.binds.items():
        fork = join.join.fork
        path = {s for s in {parent} | ancestors[parent] if s != fork and fork in ancestors[s]}
        if not path & routed:
            continue
        required = sorted(n for n in names if join.params.get(n))
        if required:
            raise ConfigurationError(
                f"join {join.name!r}: {required} come from the routed branch "
                f"{plans[parent].name!r}, which some inputs skip; give "
                f"{'them defaults' if len(required) > 1 else 'it a default'} in "
                "create_workflow (e.g. = None)"
            )
