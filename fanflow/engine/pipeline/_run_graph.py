"""The pipeline's shape as the run report draws it (`fanflow.report.RunGraph`): from the
plans of a run in memory, or from a stored run's record (`load_run`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from fanflow.callbacks import Aggregate, Broadcast, Callback, Each, Scatter, TemplateCallback
from fanflow.engine.pipeline._plan import StepPlan

if TYPE_CHECKING:
    from fanflow.report import RunGraph

__all__ = ["flow_label", "graph_of_plans", "graph_of_record", "recorded_flows"]


def flow_label(flow: Callback) -> str:
    """How a step's results become the next step's inputs, in a word ("" for one each)."""
    if isinstance(flow, Each):
        return ""
    if isinstance(flow, Scatter):
        return "scatter"
    if isinstance(flow, Broadcast):
        return f"broadcast({flow.n})"
    if isinstance(flow, Aggregate):
        return "aggregate" if flow.group_by == "root" else "aggregate(all)"
    if isinstance(flow, TemplateCallback):
        return "custom"
    return type(flow).__name__


def recorded_flows(plans: Sequence[StepPlan]) -> dict[str, str]:
    """The steps whose results do not simply flow on one each, for the run record."""
    labels = {plan.name: _step_label(plan) for plan in plans}
    return {name: label for name, label in labels.items() if label}


def graph_of_plans(plans: Sequence[StepPlan]) -> RunGraph:
    from fanflow.report import RunGraph  # when a run ends, not when fanflow is imported

    edges = [(plans[up].name, plan.name) for plan in plans for up in plan.parents]
    return RunGraph([plan.name for plan in plans], edges, recorded_flows(plans))


def graph_of_record(steps: list[str], config: Mapping[str, Any]) -> RunGraph:
    """A stored run's graph: its recorded edges (absent for a chain) and flows."""
    from fanflow.report import RunGraph

    recorded = config.get("graph")
    if not isinstance(recorded, Mapping):
        graph = RunGraph.chain(steps)
        edges = graph.edges
    else:
        edges = [(steps[up], steps[down]) for up, down in recorded.get("edges", [])]
    flows = config.get("flows")
    return RunGraph(list(steps), edges, dict(flows) if isinstance(flows, Mapping) else {})


def _step_label(plan: StepPlan) -> str:
    """The flow's label, and for a routing step how it routes: "scatter, route pick 1"."""
    flow, route = flow_label(plan.template.flow), plan.route
    if route is None:
        return flow
    how = f"route pick {route.pick}" if route.by is None else "route by function"
    return f"{flow}, {how}" if flow else how
