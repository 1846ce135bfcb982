"""Dria-style templates in a run: `self.params`, `step.input`, `TaskInput` attributes
(issue #12, item 28).

Dria's custom callbacks read `step.output[i].result` and `step.input[i].<field>`, the
inputs of the step's tasks (e.g. `step.input[0].e_list` in Dria's list extender), and
the template's constructor keyword arguments as `self.params.<name>`.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import orjson
import pytest

from fanflow import (
    GenerationRequest,
    MockAdapter,
    PipelineBuilder,
    PipelineConfig,
    StepOutput,
    StepTemplate,
    TaskInput,
    Workflow,
)
from tests.engine.pipeline.pipeline_steps import Answer, Subtopics
from tests.engine.pipeline.test_pipeline import fake_llm


def builder(adapter: MockAdapter) -> PipelineBuilder:
    return PipelineBuilder(PipelineConfig(progress=False), adapter)


class ListExtender(StepTemplate):
    """Shaped like Dria's `list_extender` template: extend a list, then one task per item."""

    def create_workflow(self, e_list: list[str]) -> Workflow:
        return Workflow.from_prompt("extend the list: {{e_list}}", e_list=e_list)

    def callback(self, step: StepOutput) -> list[TaskInput]:
        new_items = [item for result in step.output for item in orjson.loads(result.result)]
        every_item = step.input[0].e_list + new_items
        return [TaskInput(question=item) for item in every_item[: self.params.keep]]


def extend(request: GenerationRequest) -> str:
    if request.messages[-1].content.startswith("extend"):
        return '["pears", "plums"]'
    return fake_llm(request)


async def test_a_dria_list_extender_reads_step_input_and_params() -> None:
    pipeline = builder(MockAdapter(extend)).input(e_list=["apples", "figs"])
    pipeline << ListExtender(keep=3).custom() << Answer()

    result = await pipeline.build().execute()

    assert sorted(row["answer"] for row in result.rows) == ["A(apples)", "A(figs)", "A(pears)"]


async def test_step_input_is_each_outputs_task_input_with_its_ancestors_fields() -> None:
    seen: list[tuple[str, str, str]] = []

    class Questions(StepTemplate):
        def create_workflow(self, topic: str, subtopic: str) -> Workflow:
            return Workflow.from_prompt(
                "question on {{subtopic}} in {{topic}}", topic=topic, subtopic=subtopic
            )

        def callback(self, step: StepOutput) -> list[TaskInput]:
            assert len(step.input) == len(step.output)
            for task_input, output in zip(step.input, step.output, strict=True):
                seen.append((task_input.topic, task_input.subtopic, output.result))
            return [TaskInput(question=output.result) for output in step.output]

    pipeline = builder(MockAdapter(fake_llm)).input([{"topic": "t1"}, {"topic": "t2"}])
    pipeline << Subtopics().scatter() << Questions().custom() << Answer()

    result = await pipeline.build().execute()

    assert len(result.rows) == 6
    assert sorted(seen) == sorted(
        (f"t{t}", f"t{t}-{n}", f"Q(t{t}-{n})") for t in (1, 2) for n in range(3)
    )


DOCUMENTS = Path(__file__).parents[2] / "steps" / "dria_documents"


class RandomVars(StepTemplate):
    """Runs Dria's random-variables document (its `target_if_not` is "A", no task)."""

    def create_workflow(self, simulation_description: str) -> Workflow:
        document = orjson.loads((DOCUMENTS / "random_vars.json").read_bytes())
        document["external_memory"] = {"simulation_description": simulation_description}
        document["steps"][1]["condition"]["expected"] = self.params.expected
        return Workflow.model_validate(document)


async def test_a_dria_document_with_an_open_branch_runs_in_a_pipeline(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def llm(request: GenerationRequest) -> str:
        prompt = request.messages[-1].content
        if prompt.endswith("Answer Yes or No."):
            return "No"
        return "vars of " + prompt.splitlines()[0].removeprefix("Simulation: ")

    rows = [{"simulation_description": f"cafe {n}"} for n in range(3)]
    pipeline = builder(MockAdapter(llm)).input(rows)
    pipeline << RandomVars(expected=f"Yes {uuid.uuid4()}")

    with caplog.at_level(logging.WARNING, logger="fanflow.steps"):
        result = await pipeline.build().execute()

    assert sorted(row["random_vars"] for row in result.rows) == [
        f"vars of cafe {n}" for n in range(3)
    ]
    assert result.stats.tasks.get("failed", 0) == 0 and result.stats.tasks["ok"] == 3
    warnings = [r for r in caplog.records if r.name == "fanflow.steps"]
    assert len(warnings) == 1
    assert "'A' names no task" in warnings[0].getMessage()
