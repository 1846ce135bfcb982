"""Doing it: executor, pipeline, dispatcher, results, input sources."""

from __future__ import annotations

from fanflow.engine._executor import WorkflowResult, run_workflow
from fanflow.engine._pipeline import Pipeline, PipelineBuilder, PipelineConfig
from fanflow.engine._results import PipelineResult, RunStats, StepResults

__all__ = [
    "Pipeline",
    "PipelineBuilder",
    "PipelineConfig",
    "PipelineResult",
    "RunStats",
    "StepResults",
    "WorkflowResult",
    "run_workflow",
]
