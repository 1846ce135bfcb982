"""Seeing a run: a self-contained HTML report (`write_report`) and the compact HTML summary
a notebook shows for a `PipelineResult` (`summary_html`).

This package sits below `engine`: it knows task results (`fanflow._values`) and plain
descriptions of a run (`ReportInput`, `RunGraph`), never pipelines, so the engine hands it
what it needs. matplotlib (the `report` extra) is imported only to draw the charts.
"""

from __future__ import annotations

from fanflow.report._model import ReportInput, RunGraph, StepTotals
from fanflow.report._page import write_report
from fanflow.report._summary import summary_html

__all__ = ["ReportInput", "RunGraph", "StepTotals", "summary_html", "write_report"]
