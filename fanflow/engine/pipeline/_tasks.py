"""One task's workflow, made in one place: binding, `create_workflow`, params, model.

A task's `create_workflow` parameters bind from its callback's fields, then from its
ancestors' fields, nearest first (see `_plan`, which checked at `build()` that every
required one can bind). The step's `set_workflow_params` (validated when they were set)
override the workflow's limits; its `set_models` pick the model round-robin by the task's
sibling index.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fanflow._exceptions import ConfigurationError
from fanflow._values import Lineage
from fanflow.engine.pipeline._plan import StepPlan
from fanflow.steps import Workflow

__all__ = ["PreparedTask", "bind_inputs", "prepare_task"]


@dataclass(frozen=True, slots=True)
class PreparedTask:
    """What to send for one task: its workflow, and the model chosen for it (None: the
    network's own)."""

    workflow: Workflow
    model: str | None


def prepare_task(
    plan: StepPlan, fields: Mapping[str, Any], context: Mapping[str, Any], lineage: Lineage
) -> PreparedTask:
    """The workflow and model of one task; `ConfigurationError` names what is wrong."""
    template = plan.template
    workflow = template.create_workflow(**bind_inputs(plan, fields, context))
    if not isinstance(workflow, Workflow):
        raise ConfigurationError(
            f"step {plan.name!r}: create_workflow returned {type(workflow).__name__}, "
            "not a Workflow; return builder.build()"
        )
    params = template.workflow_params
    if params:
        config = workflow.config.model_copy(update=params)
        workflow = workflow.model_copy(update={"config": config})
    models = template.models
    return PreparedTask(workflow, models[lineage[-1] % len(models)] if models else None)


def bind_inputs(
    plan: StepPlan, fields: Mapping[str, Any], context: Mapping[str, Any]
) -> dict[str, Any]:
    """The keyword arguments for `create_workflow`; `ConfigurationError` if one is missing."""
    if plan.accepts_any:
        return {**context, **fields}
    kwargs: dict[str, Any] = {}
    for name, required in plan.params.items():
        if name in fields:
            kwargs[name] = fields[name]
        elif name in context:
            kwargs[name] = context[name]
        elif required:
            available = sorted({*fields, *context})
            raise ConfigurationError(
                f"step {plan.name!r}: create_workflow needs {name!r}, which neither this task's "
                f"inputs nor its ancestors provide (available: {available})"
            )
    return kwargs
