"""Doing it: executor, pipeline, dispatcher, results, input sources."""

from __future__ import annotations

from fanflow.engine._executor import WorkflowResult, run_workflow
from fanflow.engine._pipeline import Pipeline, PipelineBuilder, PipelineConfig
from fanflow.engine._records import RunRecord
from fanflow.engine._results import PipelineResult, RunStats, StepResults
from fanflow.engine._runs import load_run, runs
from fanflow.engine._store import Store

__all__ = [
    "Pipeline",
    "PipelineBuilder",
    "PipelineConfig",
    "PipelineResult",
    "RunRecord",
    "RunStats",
    "StepResults",
    "Store",
    "WorkflowResult",
    "load_run",
    "run_workflow",
    "runs",
]
