"""How run records and task results look on disk, and back."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

import orjson

from fanflow._json import json_or_text
from fanflow._values import TaskResult, TaskStatus, TaskTiming
from fanflow.adapters import Usage

__all__ = ["RunRecord", "record_from_row", "result_from_row", "result_row"]


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One `execute()`: what ran, with which settings (never secrets), and how it went."""

    id: str
    name: str
    fingerprint: str
    config: dict[str, Any]
    steps: list[str]
    status: str
    started_at: float
    ended_at: float | None
    stats: dict[str, Any] = field(default_factory=dict)


def record_from_row(row: sqlite3.Row | tuple[Any, ...]) -> RunRecord:
    run_id, name, fingerprint, config, steps, status, started, ended, stats = row
    return RunRecord(
        run_id,
        name,
        fingerprint,
        orjson.loads(config),
        orjson.loads(steps),
        status,
        float(started),
        None if ended is None else float(ended),
        orjson.loads(stats) if stats else {},
    )


def result_row(run_id: str, step_index: int, key: str, result: TaskResult) -> tuple[Any, ...]:
    """The row of `result`: plain strings and numbers only (a step name or model given as a
    `str` enum, a cost as a numpy float, are written as what they hold), so the writer
    child reads it without knowing any class (`_writer_child`)."""
    timing = result.timing
    usage = result.usage
    return (
        run_id,
        step_index,
        _text(result.step),
        lineage_text(result.lineage),
        key,
        result.status.value,
        _text(result.result),
        _text(result.error),
        orjson.dumps(result.inputs, default=str),
        orjson.dumps(result.context, default=str),
        _whole(usage.prompt_tokens),
        _whole(usage.completion_tokens),
        _whole(result.requests),
        _text(result.model),
        float(result.cost),
        int(result.cached),
        _text(result.finish_reason),
        *(_NOT_TIMED if timing is None else timing_columns(timing)),
    )


def _text(value: str | None) -> str | None:
    return value if value is None or type(value) is str else str.__str__(value)


def _whole(value: int) -> int:
    return value if type(value) is int else int(value)


_NOT_TIMED = (None, None, None, None, None)


def timing_columns(timing: TaskTiming) -> tuple[float, float, float, float, int]:
    """The `queued, started, finished, latency, attempts` columns of a result row."""
    return (
        float(timing.queued), float(timing.started), float(timing.finished),
        float(timing.latency), _whole(timing.attempts),
    )  # fmt: skip


def result_from_row(row: tuple[Any, ...]) -> TaskResult:
    (_, _, step, lineage, _, status, text, error, inputs, context, prompt, completion,
     requests, model, cost, cached, finish_reason, queued, started, finished, latency,
     attempts) = row  # fmt: skip
    # Rows written before timings were recorded have NULLs there: no timing.
    timing = None if queued is None else TaskTiming(queued, started, finished, latency, attempts)
    return TaskResult(
        step, lineage_tuple(lineage), orjson.loads(inputs), orjson.loads(context),
        TaskStatus(status), text, json_or_text(text), error, Usage(prompt, completion),
        model, requests, cost, bool(cached), finish_reason, timing,
    )  # fmt: skip


def lineage_text(lineage: tuple[int, ...]) -> str:
    """Sortable text form: fixed-width numbers, so SQL order is lineage order."""
    return ".".join([f"{n + 1:08d}" for n in lineage])  # +1 keeps ALL_ROOTS (-1) sortable


def lineage_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) - 1 for part in text.split("."))
