"""One task's workflow, made in one place: binding, `create_workflow`, params, model.

A task's `create_workflow` parameters bind from its callback's fields, then from its
ancestors' fields, nearest first (see `_plan`, which checked at `build()` that every
required one can bind). The step's `set_workflow_params` (validated when they were set)
override the workflow's limits; its `set_models` pick the model round-robin by the task's
sibling index; its `set_generation` parameters (the seed offset by that index, see
`steps/_generation.py`) and `set_tools` functions go with the task, and the tools'
definitions into its workflow's `custom_tools` (so the cache key covers them); a
`Prompt`'s tasks share the config those make (see `_configured`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fanflow._exceptions import ConfigurationError
from fanflow._frozen import fast_init
from fanflow._values import Lineage
from fanflow.engine.pipeline._plan import StepPlan
from fanflow.steps import Config, SamplingParams, StepTemplate, Workflow
from fanflow.steps._fields_json import has_shared_config, share_config
from fanflow.steps._tools import with_tools_config

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
    if template.workflow_params or template.tool_definitions:
        workflow = _configured(template, workflow)
    models, generation = template.models, template.generation
    model = models[lineage[-1] % len(models)] if models else None
    if not generation and not template.tools:
        return PreparedTask(workflow, model)
    sibling = lineage[-1] if len(lineage) > 1 else 0  # input rows are not siblings
    sampling = SamplingParams.of(generation, sibling) if generation else None
    return PreparedTask(workflow, model, sampling, template.tools or None)


@dataclass(frozen=True, slots=True)
class _Configured:
    """The config a step's params and tools made from a shared one (see `_configured`)."""

    base: Config
    params: dict[str, Any]
    definitions: tuple[dict[str, Any], ...]
    config: Config


_CONFIGURED: dict[int, _Configured] = {}
"""By the id of the shared config (kept alive by its entry); at most `_CONFIGURED_LIMIT`."""
_CONFIGURED_LIMIT = 1024


def _configured(template: StepTemplate, workflow: Workflow) -> Workflow:
    """`workflow` with the step's `set_workflow_params` limits and `set_tools` tools.

    A `Prompt`'s tasks share a config that nothing changes (`has_shared_config`): the
    step's config is made from it once, not per task (copying pydantic models costs more
    than the rest of preparing a task), and written once for content keys. Any other
    config may have changed since the last task, so it is configured anew."""
    base, params = workflow.config, template.workflow_params
    definitions = template.tool_definitions
    known = _CONFIGURED.get(id(base))
    if (
        known is not None
        and known.base is base
        and known.definitions is definitions
        and known.params == params  # a public dict: it may have been changed in place
    ):
        config = known.config
    else:
        config = base.model_copy(update=params) if params else base
        if definitions:
            config = with_tools_config(config, definitions)
        if has_shared_config(workflow):
            if len(_CONFIGURED) >= _CONFIGURED_LIMIT:
                del _CONFIGURED[next(iter(_CONFIGURED))]
            _CONFIGURED[id(base)] = _Configured(base, dict(params), definitions, config)
            share_config(workflow, config)
    return workflow if config is base else workflow.model_copy(update={"config": config})


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
