"""OpenTelemetry, optional: the request side (attempt spans and request metrics).

`pip install 'fanflow[otel]'` brings `opentelemetry-api`; the user brings the SDK and an
exporter, as with any instrumented library. A run is traced when, as it starts, a tracer
or meter provider other than the API's default (proxy or no-op) one is configured. That
can only have happened if `opentelemetry` is already imported, so fanflow looks in
`sys.modules` first and imports nothing otherwise: without the extra, or without a
provider, nothing is imported and every hook is one `is None` test.

While a traced run goes on, `tracing` holds its `Tracing` (the last one started, when
runs overlap in one process); adapters call `tracing.attempt(...)` around each request
they send (`OpenAIAdapter`, its Ollama and Anthropic subclasses, `MockAdapter`). The
task's span (set by `engine/pipeline/_tracing.py` in `current_task`) is the parent, and
numbers the attempts. Prompt and answer text go on attempt spans only when
`FANFLOW_TRACE_PROMPTS=1` (redacted, as all text fanflow keeps); an API key never does.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Awaitable
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from fanflow._redact import redact

__all__ = ["TaskSpan", "Tracing", "activate", "current_task", "deactivate", "providers", "tracing"]

PROMPTS_VARIABLE = "FANFLOW_TRACE_PROMPTS"
_Answer = TypeVar("_Answer")

tracing: Tracing | None = None
"""The traced runs' hooks while one goes on; None otherwise (the hot path tests this)."""
_active = 0  # traced runs going on in this process


def activate(tracer_provider: Any, meter_provider: Any) -> Tracing:
    """A traced run starts: `tracing` is set (made anew unless another run uses the same
    providers) and stays until the last traced run ends (`deactivate`)."""
    global tracing, _active
    if tracing is None or tracing.providers != (tracer_provider, meter_provider):
        tracing = Tracing(tracer_provider, meter_provider)
    _active += 1
    return tracing


def deactivate() -> None:
    """A traced run ended: the hooks go when no other traced run goes on."""
    global tracing, _active
    _active -= 1
    if _active <= 0:
        tracing, _active = None, 0


@dataclass(slots=True)
class TaskSpan:
    """The span of the task running in this context, and its attempts so far."""

    span: Any
    context: Any  # an OpenTelemetry Context holding `span`: the attempts' parent
    step: str
    attempts: int = 0


current_task: ContextVar[TaskSpan | None] = ContextVar("fanflow_task_span", default=None)


def providers() -> tuple[Any, Any] | None:
    """The configured (tracer provider, meter provider), either None where that one is
    the API's default; None when neither is configured or opentelemetry is not imported."""
    trace_api = sys.modules.get("opentelemetry.trace")
    metrics_api = sys.modules.get("opentelemetry.metrics")
    tracer_provider = meter_provider = None
    if trace_api is not None:
        found = trace_api.get_tracer_provider()
        if not isinstance(found, (trace_api.ProxyTracerProvider, trace_api.NoOpTracerProvider)):
            tracer_provider = found
    if metrics_api is not None:
        found = metrics_api.get_meter_provider()
        default = isinstance(found, metrics_api.NoOpMeterProvider)
        if not default and type(found).__name__ != "_ProxyMeterProvider":
            meter_provider = found
    if tracer_provider is None and meter_provider is None:
        return None
    return tracer_provider, meter_provider


class Tracing:
    """A traced run's tracer and instruments, shared with the adapters through `tracing`."""

    def __init__(self, tracer_provider: Any, meter_provider: Any) -> None:
        from importlib.metadata import version as installed

        from opentelemetry import trace
        from opentelemetry.metrics import NoOpMeterProvider

        version = installed("fanflow")
        self.providers = (tracer_provider, meter_provider)
        self.trace = trace
        self.tracer = (tracer_provider or trace.NoOpTracerProvider()).get_tracer("fanflow", version)
        meter = (meter_provider or NoOpMeterProvider()).get_meter("fanflow", version)
        self.requests = meter.create_counter(
            "fanflow.requests", unit="{request}", description="LLM requests sent, retries included"
        )
        self.tokens = meter.create_counter(
            "fanflow.tokens", unit="{token}", description="Tokens the endpoints counted"
        )
        self.latency = meter.create_histogram(
            "fanflow.request.duration", unit="s", description="Sending a request to its answer"
        )
        self.in_flight = meter.create_up_down_counter(
            "fanflow.requests.in_flight", unit="{request}", description="Requests awaiting answers"
        )
        self.tasks = meter.create_counter(
            "fanflow.tasks", unit="{task}", description="Tasks ended, by step and status"
        )
        self.prompts = os.environ.get(PROMPTS_VARIABLE, "") not in ("", "0", "false")

    async def attempt(
        self, call: Awaitable[_Answer], request: Any, endpoint: str, model: str | None
    ) -> _Answer:
        """Await one request (`call`, answering `request` with a `Generation`) inside its
        attempt span; `model`: the adapter's default, for requests that name none."""
        model = request.model or model
        task = current_task.get()
        number = 1
        if task is not None:
            task.attempts += 1
            number = task.attempts
        step = None if task is None else task.step
        where = _endpoint(endpoint)
        attributes: dict[str, Any] = {"fanflow.attempt": number, "fanflow.endpoint": where}
        if step is not None:
            attributes["fanflow.step"] = step
        if model is not None:
            attributes["gen_ai.request.model"] = model
        if self.prompts:
            text = "\n".join(f"{m.role}: {m.content}" for m in request.messages)
            attributes["fanflow.prompt"] = redact(text)
        parent = None if task is None else task.context
        span = self.tracer.start_span("fanflow.request", parent, attributes=attributes)
        labels = {"fanflow.step": step or "", "gen_ai.request.model": model or ""}
        self.in_flight.add(1, labels)
        started = time.perf_counter()
        try:
            generation = await call
        except BaseException as exc:
            self._failed(span, exc, {**labels, "fanflow.outcome": "error"})
            raise
        finally:
            self.in_flight.add(-1, labels)
            self.latency.record(time.perf_counter() - started, labels)
        self._answered(span, generation, {**labels, "fanflow.outcome": "ok"})
        return generation

    def _answered(self, span: Any, generation: Any, labels: dict[str, Any]) -> None:
        usage = generation.usage
        self.requests.add(1, labels)
        self.tokens.add(usage.prompt_tokens, {**labels, "gen_ai.token.type": "input"})
        self.tokens.add(usage.completion_tokens, {**labels, "gen_ai.token.type": "output"})
        span.set_attributes(
            {
                "gen_ai.response.model": generation.model or "",
                "gen_ai.usage.input_tokens": usage.prompt_tokens,
                "gen_ai.usage.output_tokens": usage.completion_tokens,
                "gen_ai.response.finish_reasons": (generation.finish_reason or "",),
                "fanflow.latency_s": generation.latency_s,
                "fanflow.status": "ok",
            }
        )
        if self.prompts:
            span.set_attribute("fanflow.completion", redact(generation.text))
        span.end()

    def _failed(self, span: Any, error: BaseException, labels: dict[str, Any]) -> None:
        self.requests.add(1, labels)
        status = getattr(error, "status_code", None)
        if isinstance(status, int):
            span.set_attribute("http.response.status_code", status)
        span.set_attribute("error.type", type(error).__name__)
        span.set_attribute("fanflow.status", "error")
        description = redact(f"{type(error).__name__}: {error}")
        span.set_status(self.trace.Status(self.trace.StatusCode.ERROR, description))
        span.end()


@lru_cache(maxsize=64)
def _endpoint(url: str) -> str:
    """`url` without credentials, query or fragment: what a span may name."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, "", ""))
    except ValueError:
        return "?"
