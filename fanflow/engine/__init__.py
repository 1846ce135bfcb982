"""Doing it, in two parts that the folder names say:

- `engine/workflow/`: one workflow, run against an LLM adapter (the interpreter).
- `engine/pipeline/`: many tasks: planning, dispatch, results, input sources.

Persistence is `fanflow/store/`, below this package.
"""

from __future__ import annotations

from fanflow.engine.pipeline import (
    Mix,
    Pipeline,
    PipelineBuilder,
    PipelineConfig,
    PipelineResult,
    RayRunner,
    Route,
    RunStats,
    StepResults,
    load_pipeline,
    load_run,
)
from fanflow.engine.workflow import WorkflowResult, run_workflow
from fanflow.store import RunRecord, Store, runs

__all__ = [
    "Mix",
    "Pipeline",
    "PipelineBuilder",
    "PipelineConfig",
    "PipelineResult",
    "RayRunner",
    "Route",
    "RunRecord",
    "RunStats",
    "StepResults",
    "Store",
    "WorkflowResult",
    "load_pipeline",
    "load_run",
    "run_workflow",
    "runs",
]
