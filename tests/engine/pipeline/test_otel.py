"""OpenTelemetry (issue #17): with a tracer provider configured, a run is a span, each
task a direct child of it, each request attempt a child of its task; metrics for
requests, tokens, latency and in flight. Nothing is imported without a provider.

The SDK's providers are set as the global ones for each test and the API's globals are
put back afterwards, so no test leaves OpenTelemetry configured for the next.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.metrics import _internal as metrics_state
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once

from fanflow import (
    MockAdapter,
    OpenAIAdapter,
    PipelineBuilder,
    PipelineConfig,
    Prompt,
    RetryPolicy,
)
from fanflow.testing import Faults, MockServer

KEY = "sk-otel-canary-7f3a9c1e5b"
QUICK = RetryPolicy(initial_backoff=0.001, jitter=0.0)


@dataclass
class Telemetry:
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader

    def finished(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.spans.get_finished_spans() if span.name == name]

    def points(self, metric: str) -> list[Any]:
        data = self.metrics.get_metrics_data()
        assert data is not None
        return [
            point
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for found in scope.metrics
            if found.name == metric
            for point in found.data.data_points
        ]


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    saved = (
        trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE,
        metrics_state._METER_PROVIDER, metrics_state._METER_PROVIDER_SET_ONCE,
    )  # fmt: skip
    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    metrics_state._METER_PROVIDER_SET_ONCE = Once()
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    try:
        yield Telemetry(spans, reader)
    finally:
        (
            trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE,
            metrics_state._METER_PROVIDER, metrics_state._METER_PROVIDER_SET_ONCE,
        ) = saved  # fmt: skip


def _answer(request: Any) -> str:
    prompt = request.messages[-1].content
    return '["x", "y"]' if prompt.startswith("list") else f"about {prompt}"


async def test_a_run_is_a_span_with_its_tasks_as_children_and_requests_below(
    telemetry: Telemetry,
) -> None:
    builder = PipelineBuilder(PipelineConfig(progress=False), MockAdapter(_answer, model="m1"))
    builder.input([{"topic": "a"}, {"topic": "b"}])
    builder << Prompt("items", "list {{topic}}").scatter("item") << Prompt("say", "{{item}}")
    result = await builder.build().execute()

    (run,) = telemetry.finished("fanflow.run")
    assert run.attributes is not None and run.attributes["fanflow.run.name"] == result.run_name
    tasks = telemetry.finished("fanflow.task")
    assert len(tasks) == 6
    for task in tasks:  # each a direct child of the run, none nested in another task
        assert task.parent is not None and task.parent.span_id == run.context.span_id
        assert task.context.trace_id == run.context.trace_id
    by_id = {task.context.span_id: task for task in tasks}
    requests = telemetry.finished("fanflow.request")
    assert len(requests) == 6
    for request in requests:
        assert request.parent is not None
        task = by_id[request.parent.span_id]
        assert request.attributes is not None and task.attributes is not None
        assert request.attributes["fanflow.attempt"] == 1
        assert request.attributes["fanflow.step"] == task.attributes["fanflow.step"]
        assert request.attributes["gen_ai.request.model"] == "m1"
    say = next(t for t in tasks if t.attributes and t.attributes["fanflow.step"] == "say")
    assert say.attributes is not None
    assert say.attributes["fanflow.status"] == "ok"
    assert say.attributes["fanflow.attempts"] == 1
    assert say.attributes["gen_ai.usage.output_tokens"] > 0
    assert sum(point.value for point in telemetry.points("fanflow.requests")) == 6
    assert sum(point.value for point in telemetry.points("fanflow.tokens")) > 0
    assert sum(point.count for point in telemetry.points("fanflow.request.duration")) == 6
    assert {point.value for point in telemetry.points("fanflow.requests.in_flight")} == {0}


async def test_each_attempt_is_a_span_numbered_under_its_task_without_a_key(
    telemetry: Telemetry,
) -> None:
    faults = Faults(script=["server_error"])
    async with (
        MockServer(faults=faults) as server,
        OpenAIAdapter(server.base_url, api_key=KEY, model="mock-model") as adapter,
    ):
        builder = PipelineBuilder(PipelineConfig(progress=False, retry=QUICK), adapter)
        builder.input(topic="t") << Prompt("say", "say {{topic}}")
        await builder.build().execute()

    (task,) = telemetry.finished("fanflow.task")
    attempts = telemetry.finished("fanflow.request")
    assert [span.attributes["fanflow.attempt"] for span in attempts if span.attributes] == [1, 2]
    assert all(span.parent and span.parent.span_id == task.context.span_id for span in attempts)
    failed, answered = attempts
    assert failed.attributes is not None and failed.attributes["http.response.status_code"] >= 500
    assert failed.status.status_code == trace.StatusCode.ERROR
    assert answered.attributes is not None
    assert answered.attributes["fanflow.endpoint"] == server.base_url
    assert task.attributes is not None and task.attributes["fanflow.attempts"] == 2
    everything = repr(
        [(s.attributes, s.status, s.events) for s in telemetry.spans.get_finished_spans()]
    )
    assert KEY not in everything
    assert "say t" not in everything  # no prompt text unless FANFLOW_TRACE_PROMPTS is set


async def test_prompts_go_on_attempt_spans_only_when_turned_on(
    telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FANFLOW_TRACE_PROMPTS", "1")
    builder = PipelineBuilder(PipelineConfig(progress=False), MockAdapter(_answer, model="m1"))
    builder.input(topic="t") << Prompt("say", "say {{topic}}")
    await builder.build().execute()
    (request,) = telemetry.finished("fanflow.request")
    assert request.attributes is not None
    assert "say t" in str(request.attributes["fanflow.prompt"])
    assert request.attributes["fanflow.completion"] == "about say t"


def test_without_a_provider_nothing_of_opentelemetry_is_imported() -> None:
    script = textwrap.dedent(
        """
        import sys
        import fanflow
        builder = fanflow.PipelineBuilder(
            fanflow.PipelineConfig(progress=False, store=False), fanflow.MockAdapter(["hi"])
        )
        builder.input(topic="t") << fanflow.Prompt("say", "say {{topic}}")
        result = builder.build().run()
        assert result.rows[0]["say"] == "hi", result.rows
        loaded = sorted(name for name in sys.modules if name.startswith("opentelemetry"))
        assert not loaded, loaded
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
