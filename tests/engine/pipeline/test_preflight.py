"""`build()` calls every step's `create_workflow` once, before any request (the preflight)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from fanflow import (
    ConfigurationError,
    MockAdapter,
    PipelineBuilder,
    PipelineConfig,
    Prompt,
    StepTemplate,
    Workflow,
    WorkflowBuilder,
    Write,
)


def _llm(request: Any) -> str:
    return '["a", "b"]'


def _builder(*steps: StepTemplate, preflight: bool = True, **row: Any) -> PipelineBuilder:
    config = PipelineConfig(progress=False, preflight=preflight)
    builder = PipelineBuilder(config, MockAdapter(_llm)).input(**(row or {"topic": "tides"}))
    for step in steps:
        builder << step
    return builder


class DriaTypo(StepTemplate):
    """A Dria example with `path=` where `prompt=` was meant."""

    def create_workflow(self, instruction: str) -> Workflow:
        builder = WorkflowBuilder(instruction=instruction)
        builder.generative_step(path="{{instruction}}", outputs=[Write.new("out")])
        builder.set_return_value("out")
        return builder.build()


class Recording(StepTemplate):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[dict[str, Any]] = []

    def create_workflow(self, topic: str, variation: str) -> Workflow:
        self.calls.append({"topic": topic, "variation": variation})
        return Workflow.from_prompt("{{variation}} in {{topic}}", topic=topic, variation=variation)


def test_a_broken_create_workflow_of_a_later_step_fails_build_naming_the_step() -> None:
    adapter = MockAdapter(_llm)
    builder = PipelineBuilder(PipelineConfig(progress=False), adapter).input(topic="tides")
    builder << Prompt("variations", "vary {{topic}}").scatter(key="instruction")
    builder << DriaTypo(name="execute")

    with pytest.raises(ConfigurationError, match=r"step 'execute'.*prompt file") as caught:
        builder.build()

    assert "preflight=False" in str(caught.value)
    assert isinstance(caught.value.__cause__, ConfigurationError)
    assert adapter.requests == []


def test_a_create_workflow_that_returns_no_workflow_fails_build() -> None:
    class NotAWorkflow(StepTemplate):
        def create_workflow(self, topic: str) -> Workflow:
            return "hello {{topic}}"  # type: ignore[return-value]

    with pytest.raises(ConfigurationError, match=r"step 'not_a_workflow'.*not a Workflow"):
        _builder(NotAWorkflow()).build()


def test_the_preflight_gets_root_columns_from_the_first_row_and_placeholders_otherwise() -> None:
    recording = Recording()
    _builder(Prompt("variations", "vary {{topic}}").scatter(key="variation"), recording).build()

    [call] = recording.calls
    assert call["topic"] == "tides"
    assert isinstance(call["variation"], str) and call["variation"]


def test_an_aggregated_input_gets_a_list_placeholder() -> None:
    seen: list[Any] = []

    class Summary(StepTemplate):
        def create_workflow(self, variations: list[str]) -> Workflow:
            seen.append(variations)
            return Workflow.from_prompt("sum {{v}}", v="\n".join(variations))

    step = Prompt("variations", "vary {{topic}}").aggregate(key="variations")
    _builder(step, Summary()).build()

    assert isinstance(seen[0], list)


def test_preflight_false_turns_it_off() -> None:
    recording = Recording()
    _builder(
        Prompt("v", "vary {{topic}}").scatter(key="variation"), recording, preflight=False
    ).build()
    builder = _builder(
        Prompt("v", "vary {{topic}}").scatter(key="instruction"),
        DriaTypo(name="x"),
        preflight=False,
    )

    builder.build()  # the typo shows only when the step runs
    assert recording.calls == []


def test_a_positional_only_parameter_is_refused_at_build() -> None:
    class Positional(StepTemplate):
        def create_workflow(self, topic: str, /) -> Workflow:
            return Workflow.from_prompt("{{topic}}", topic=topic)

    with pytest.raises(ConfigurationError, match=r"step 'positional'.*positional-only.*topic"):
        _builder(Positional(), preflight=False).build()


async def test_the_preflight_reads_only_the_first_row_and_the_run_still_gets_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"topic": "one"}\n{"topic": "two"}\n')
    seen: list[str] = []

    class Say(StepTemplate):
        def create_workflow(self, topic: str) -> Workflow:
            seen.append(topic)
            return Workflow.from_prompt("say {{topic}}", topic=topic)

    builder = PipelineBuilder(PipelineConfig(progress=False), MockAdapter(lambda r: "ok"))
    builder.input(str(path)) << Say()
    pipeline = builder.build()
    assert seen == ["one"]

    result = await pipeline.execute()
    assert sorted(row["topic"] for row in result.rows) == ["one", "two"]


def test_build_does_not_read_past_the_first_row(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(orjson.dumps({"topic": "one"}) + b"\n{broken\n")

    builder = PipelineBuilder(PipelineConfig(progress=False), MockAdapter(lambda r: "ok"))
    builder.input(str(path)) << Prompt("say", "{{topic}}")
    builder.build()
