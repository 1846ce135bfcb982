"""`summary_html(run)`: what a notebook shows for a `PipelineResult` (`_repr_html_`).

Compact and cheap: the step table and totals come from the run's stats (no task is
read), and only the first `ROWS` rows are read. Everything user-given is escaped.
"""

from __future__ import annotations

from fanflow._values import TaskStatus
from fanflow.report._html import cut, escape, money, number, table, value_text
from fanflow.report._model import ReportInput, StepTotals

__all__ = ["summary_html"]

ROWS = 5
CELL_CHARS = 80
STATUSES = [TaskStatus.OK, TaskStatus.FAILED, TaskStatus.TIMED_OUT, TaskStatus.SKIPPED,
            TaskStatus.FILTERED]  # fmt: skip
STYLE = (
    "<style>.fanflow-summary table{border-collapse:collapse;margin:.3em 0 .8em}"
    ".fanflow-summary th,.fanflow-summary td{padding:.15em .6em;text-align:right}"
    ".fanflow-summary td:first-child,.fanflow-summary th:first-child{text-align:left}"
    ".fanflow-summary table.rows td{text-align:left}</style>"
)


def summary_html(run: ReportInput) -> str:
    parts = [
        '<div class="fanflow-summary">',
        STYLE,
        f"<b>fanflow run {escape(run.name)}</b>",
        f"<p>{_totals_line(run)}</p>",
        _steps(run.totals),
        _rows(run),
        "</div>",
    ]
    return "".join(parts)


def _totals_line(run: ReportInput) -> str:
    counts = {status: 0 for status in STATUSES}
    tokens_in = tokens_out = 0
    for totals in run.totals.values():
        for status in STATUSES:
            counts[status] += totals.counts.get(status.value, 0)
        tokens_in += totals.prompt_tokens
        tokens_out += totals.completion_tokens
    tasks = ", ".join(f"{number(n)} {s.value.replace('_', ' ')}" for s, n in counts.items()
                      if n or s is not TaskStatus.FILTERED)  # fmt: skip
    stopped = f"; stopped: {escape(run.stopped)}" if run.stopped else ""
    return (
        f"tasks: {tasks}; {number(run.requests)} requests; tokens {number(tokens_in)} in, "
        f"{number(tokens_out)} out; cost {money(run.cost)}; wall time "
        f"{run.wall_time_s:.1f} s{stopped}"
    )


def _steps(totals: dict[str, StepTotals]) -> str:
    headers = ["step", "ok", "failed", "timed out", "skipped", "filtered", "requests",
               "tokens in", "tokens out", "cost"]  # fmt: skip
    rows = []
    for name, step in totals.items():
        cells = [escape(name), *(number(step.counts.get(s.value, 0)) for s in STATUSES),
                 number(step.requests), number(step.prompt_tokens),
                 number(step.completion_tokens), money(step.cost)]  # fmt: skip
        rows.append(({"class": "step", "data-step": name}, cells))
    return table(headers, rows, "steps")


def _rows(run: ReportInput) -> str:
    if run.row_count is None:
        return "<p>Several final steps: see <code>result.subsets</code> for their rows.</p>"
    first = run.first_rows(ROWS)
    if not first:
        return "<p>No rows.</p>"
    columns = list(dict.fromkeys(key for row in first for key in row))
    body = [
        ({"class": "row"}, [escape(cut(value_text(row.get(c, "")), CELL_CHARS)) for c in columns])
        for row in first
    ]
    shown = f"first {len(first)} of {number(run.row_count)} rows"
    return f"<p>{shown}</p>" + table(columns, body, "rows")
