"""Doing it: the executor (and, later, pipeline, dispatcher, store, results)."""

from __future__ import annotations

from fanflow.engine._executor import WorkflowResult, run_workflow

__all__ = ["WorkflowResult", "run_workflow"]
