"""OpenTelemetry, optional: the run and task spans (the request side is `fanflow/_otel.py`).

A run is a span (`fanflow.run`, a child of whatever span is current when it starts);
each task is a `fanflow.task` span whose parent is set explicitly to the run's span, so
tasks are siblings, never nested under the task a worker ran before; each request
attempt is a `fanflow.request` span under its task. Nothing here runs, and nothing is
imported, unless `_otel.providers()` finds a configured provider when the run starts:
the dispatcher then awaits each task through `RunTracing.task`, else directly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from fanflow import _otel
from fanflow._redact import redact
from fanflow._values import TaskResult, TaskStatus

__all__ = ["RunTracing", "traced_run"]

_NOT_FAILED = (TaskStatus.OK, TaskStatus.FILTERED)


class RunTracing:
    """One traced run: its span, and the spans of its tasks."""

    def __init__(self, hooks: _otel.Tracing, span: Any) -> None:
        self.hooks, self.span = hooks, span
        self.context = hooks.trace.set_span_in_context(span)  # every task's parent

    async def task(
        self, call: Awaitable[tuple[TaskResult, str]], step: str, lineage: Sequence[int]
    ) -> tuple[TaskResult, str]:
        """Await one task (`call`, the dispatcher's) inside its span."""
        hooks = self.hooks
        task_id = f"{step}/{'.'.join(map(str, lineage))}"
        attributes = {"fanflow.step": step, "fanflow.task_id": task_id}
        span = hooks.tracer.start_span("fanflow.task", self.context, attributes=attributes)
        token = _otel.current_task.set(
            _otel.TaskSpan(span, hooks.trace.set_span_in_context(span, self.context), step)
        )
        try:
            result, key = await call
        except BaseException:  # cancelled: the run stops
            span.set_attribute("fanflow.status", "cancelled")
            span.end()
            raise
        finally:
            _otel.current_task.reset(token)
        self._ended(span, result)
        return result, key

    def _ended(self, span: Any, result: TaskResult) -> None:
        usage, timing = result.usage, result.timing
        span.set_attributes(
            {
                "fanflow.status": result.status.value,
                "fanflow.attempts": result.requests,
                "fanflow.cached": result.cached,
                "gen_ai.usage.input_tokens": usage.prompt_tokens,
                "gen_ai.usage.output_tokens": usage.completion_tokens,
            }
        )
        if result.model is not None:
            span.set_attribute("gen_ai.request.model", result.model)
        if timing is not None:
            span.set_attribute("fanflow.queued_s", timing.started - timing.queued)
            span.set_attribute("fanflow.latency_s", timing.latency)
        if result.status not in _NOT_FAILED:
            error = result.error or result.status.value  # redacted when it was recorded
            span.set_status(self.hooks.trace.Status(self.hooks.trace.StatusCode.ERROR, error))
        self.hooks.tasks.add(
            1, {"fanflow.step": result.step, "fanflow.status": result.status.value}
        )
        span.end()


@contextmanager
def traced_run(name: str, run_id: str, steps: Sequence[str]) -> Iterator[RunTracing | None]:
    """Around a run: its span when a provider is configured (else None, nothing imported)."""
    found = _otel.providers()
    if found is None:
        yield None
        return
    hooks = _otel.activate(*found)
    attributes = {"fanflow.run.name": name, "fanflow.run.id": run_id, "fanflow.steps": [*steps]}
    span = hooks.tracer.start_span("fanflow.run", attributes=attributes)
    try:
        yield RunTracing(hooks, span)
        span.set_attribute("fanflow.status", "ok")
    except BaseException as exc:  # its message may quote what a server echoed: redacted
        span.set_attribute("fanflow.status", "failed")
        description = redact(f"{type(exc).__name__}: {exc}")
        span.set_status(hooks.trace.Status(hooks.trace.StatusCode.ERROR, description))
        raise
    finally:
        span.end()
        _otel.deactivate()
