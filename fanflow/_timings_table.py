"""The Timings table of `fanflow runs show`: each step's durations and request latency
percentiles (`fanflow.store.step_timings`)."""

from __future__ import annotations

from rich import box
from rich.table import Table

from fanflow.store import StepTimings

__all__ = ["timings_table"]


def timings_table(steps: list[str], timings: dict[str, StepTimings]) -> Table:
    """One row per step: wall (first queued to last finished), the tasks' time summed,
    request latency p50 / p95 / max per task, attempts in all and the most for one task."""
    title = "Timings (request latency: sending to answer, a task's mean over its attempts)"
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("step")
    for column in ("wall", "task time", "p50", "p95", "max", "attempts", "most/task"):
        table.add_column(column, justify="right")
    for step in steps:
        found = timings.get(step)
        if found is None:  # no task of it was timed (or stored before timings were)
            table.add_row(step, *["-"] * 7)
            continue
        table.add_row(
            step, _seconds(found.wall), _seconds(found.task_time),
            _seconds(found.latency_p50), _seconds(found.latency_p95),
            _seconds(found.latency_max), f"{found.attempts:,}", str(found.max_attempts),
        )  # fmt: skip
    return table


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f}ms"
    if value < 60:
        return f"{value:.1f}s"
    minutes, seconds = divmod(round(value), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {seconds:02d}s"
