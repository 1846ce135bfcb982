"""`write_report(path, run)`: the run report, one self-contained HTML file.

Everything is inline (CSS, SVG): the page fetches nothing, so it opens offline, from an
e-mail or an artifact store alike, and it has no script at all.
"""

from __future__ import annotations

import json
from pathlib import Path

from fanflow._values import TaskStatus
from fanflow.report._charts import latency_histogram, requests_over_time
from fanflow.report._config import masked_config
from fanflow.report._failures import FailureGroups, FailureKind
from fanflow.report._graph_svg import edge_counts, graph_svg
from fanflow.report._html import DASH, cut, escape, money, number, table, value_text
from fanflow.report._model import ReportInput
from fanflow.report._stats import StepFigures, percentile, step_figures
from fanflow.report._style import CSS

__all__ = ["write_report"]

STEP_HEADERS = [
    "step", "ok", "failed", "timed out", "skipped", "from cache", "tokens in", "tokens out",
    "cost", "latency p50", "latency p95", "latency max", "attempts", "most attempts",
    "filtered",
]  # fmt: skip
COUNTED = (TaskStatus.OK, TaskStatus.FAILED, TaskStatus.TIMED_OUT, TaskStatus.SKIPPED)
INTERNAL_CONFIG = ("graph", "flows", "function_steps")  # the record's, drawn above instead
NO_TIMINGS = "no request timings were recorded for this run"


def write_report(path: Path, run: ReportInput) -> Path:
    """Write the report of `run` to `path` (making its folder); the path written."""
    failures = FailureGroups()
    # one step at a time, one pass over its tasks
    figures = [step_figures(name, run.step_results(name), failures.add) for name in run.graph.steps]
    sections = [
        _header(run, figures),
        _section("graph", "Pipeline", _graph(run, figures)),
        _section("steps", "Steps", _step_table(figures)),
        *_charts(figures),
        _section("failures", "Failures", _failures(failures.kinds(), failures.others)),
        _section("config", "Config", _config(run)),
    ]
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>fanflow run {escape(run.name)}</title><style>{CSS}</style></head>"
        f"<body>{''.join(sections)}</body></html>\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{escape(title)}</h2>{body}</section>'


def _header(run: ReportInput, figures: list[StepFigures]) -> str:
    totals = {status.value: 0 for status in TaskStatus}
    for step in figures:
        for status, count in step.counts.items():
            totals[status] = totals.get(status, 0) + count
    tokens_in = sum(step.prompt_tokens for step in figures)
    tokens_out = sum(step.completion_tokens for step in figures)
    facts = [
        ("tasks", ", ".join(f"{number(n)} {s.replace('_', ' ')}" for s, n in totals.items() if n)
         or "none"),
        ("requests", number(run.requests)),
        ("tokens", f"{number(tokens_in)} in, {number(tokens_out)} out"),
        ("cost", money(run.cost)),
        ("wall time", f"{run.wall_time_s:.1f} s"),
    ]  # fmt: skip
    if run.stopped:
        facts.append(("stopped", run.stopped))
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in facts)
    return f"<header><h1>fanflow run {escape(run.name)}</h1><dl>{items}</dl></header>"


def _graph(run: ReportInput, figures: list[StepFigures]) -> str:
    tasks = {step.name: step.tasks for step in figures}
    ok = {step.name: step.count(TaskStatus.OK) for step in figures}
    counts = edge_counts(run.graph, tasks, ok)
    captions = {
        step.name: f"{number(step.count(TaskStatus.OK))} ok of {number(step.tasks)}"
        for step in figures
    }
    svg = graph_svg(run.graph, counts, captions)
    note = '<p class="note">On each edge: the tasks that went along it.</p>'
    return f'<div class="graph-box">{svg}</div>{note}'


def _step_table(figures: list[StepFigures]) -> str:
    rows = []
    for step in figures:
        latency = (
            [f"{percentile(step.latencies, share):.2f} s" for share in (0.5, 0.95, 1.0)]
            if step.latencies
            else [DASH] * 3
        )
        counts = [number(step.count(status)) for status in COUNTED]
        cells = [
            escape(step.name), *counts, number(step.cached), number(step.prompt_tokens),
            number(step.completion_tokens), money(step.cost), *latency,
            number(step.attempts), number(step.most_attempts),
            number(step.count(TaskStatus.FILTERED)),
        ]  # fmt: skip
        rows.append(({"class": "step", "data-step": step.name}, cells))
    return table(STEP_HEADERS, rows, "steps")


def _charts(figures: list[StepFigures]) -> list[str]:
    by_model: dict[str, list[float]] = {}
    for step in figures:
        for model, values in step.latencies_by_model.items():
            by_model.setdefault(model, []).extend(values)
    by_step = {step.name: step.latencies for step in figures}
    charts = [
        ("requests-over-time", "Requests over time", requests_over_time(figures)),
        ("latency-by-step", "Request latency by step", latency_histogram(by_step, "step")),
        ("latency-by-model", "Request latency by model", latency_histogram(by_model, "model")),
    ]
    return [
        _section(
            anchor,
            title,
            f'<div class="chart">{svg}</div>' if svg else f'<p class="note">{NO_TIMINGS}.</p>',
        )
        for anchor, title, svg in charts
    ]


def _failures(kinds: list[FailureKind], others: int) -> str:
    if not kinds:
        return '<p class="note">No task failed.</p>'
    rows: list[tuple[dict[str, str], list[str]]] = []
    for kind in kinds:
        status = kind.status.replace("_", " ")
        cells = [escape(status), escape(kind.error_type or DASH), escape(kind.status_code or DASH),
                 escape(kind.message), number(kind.count)]  # fmt: skip
        rows.append(({"class": "failure-kind", "data-count": str(kind.count)}, cells))
        example = kind.example
        inputs = cut(value_text(dict(example.inputs)))
        detail = (
            f"<b>example</b> <code>{escape(example.task_id)}</code> inputs "
            f'<code>{escape(inputs)}</code><br><span class="error">'
            f"{escape(cut(example.error or '', 600))}</span>"
        )
        rows.append(({"class": "failure-example"}, ['<div class="example">' + detail + "</div>"]))
    headers = ["status", "exception", "status code", "message (ids and numbers masked)", "tasks"]
    more = f'<p class="note">{number(others)} more failures of other kinds.</p>' if others else ""
    return table(headers, rows, "failures") + more


def _config(run: ReportInput) -> str:
    if run.config is None:
        return '<p class="note">The config was not recorded for this run.</p>'
    settings = {k: v for k, v in run.config.items() if k not in INTERNAL_CONFIG}
    shown = json.dumps(masked_config(settings), indent=2, sort_keys=True, default=str)
    return f"<pre>{escape(shown)}</pre>"
