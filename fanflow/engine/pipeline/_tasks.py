"""One task's workflow, made in one place: binding, `create_workflow`, params, model.

A task's `create_workflow` parameters bind from its callback's fields, then from its
ancestors' fields, nearest first (see `_plan`, which checked at `build()` that every
required one can bind). The step's `set_workflow_params` (validated when they were set)
override the workflow's limits; its `set_models` pick the model round-robin by the task's
sibling index; its `set_generation` parameters (the seed offset by that index, see
`steps/_generation.py`) and `set_tools` functions go with the task, and the tools'
definitions into its workflow's `custom_tools` (so the cache key covers them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fanflow._exceptions import ConfigurationError
from fanflow._frozen import fast_init
from fanflow._values import Lineage
from fanflow.engine.pipeline._plan import StepPlan
from fanflow.steps import SamplingParams, Workflow, with_tools

__all__ = ["PreparedTask", "bind_inputs", "prepare_task"]


@fast_init
@dataclass(frozen=True, slots=True)
class PreparedTask:
    """What to send for one task: its workflow, the model chosen for it (None: the
    network's own), its sampling parameters and the functions its tool calls run."""

    workflow: Workflow
    model: str | None
    sampling: SamplingParams | None = None
    tools: Mapping[str, Callable[..., Any]] | None = None


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
    if template.tool_definitions:
        workflow = with_tools(workflow, template.tool_definitions)
    models, generation = template.models, template.generation
    model = models[lineage[-1] % len(models)] if models else None
    if not generation and not template.tools:
        return PreparedTask(workflow, model)
    sibling = lineage[-1] if len(lineage) > 1 else 0  # input rows are not siblings
    sampling = SamplingParams.of(generation, sibling) if generation else None
    return PreparedTask(workflow, model, sampling, template.tools or None)


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
