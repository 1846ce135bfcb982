"""`Prompt`: one prompt as a step, declarative, with its variables as its parameters."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from fanflow import (
    ConfigurationError,
    MockAdapter,
    PipelineBuilder,
    PipelineConfig,
    Prompt,
    Workflow,
    run_workflow,
)


class Verdict(BaseModel):
    score: int
    reason: str


def builder(adapter: MockAdapter, **row: object) -> PipelineBuilder:
    return PipelineBuilder(PipelineConfig(progress=False, store=False), adapter).input(**row)


def test_the_variables_of_the_template_are_the_parameters() -> None:
    step = Prompt("ask", "Compare {{left}} with {{right}}, then {{left}} again")

    assert step.parameters() == {"left": True, "right": True}
    assert step.accepts_any() is False


async def test_a_variable_in_the_system_prompt_is_a_parameter_too() -> None:
    step = Prompt("ask", "{{question}}", system="You are {{persona}}.")
    adapter = MockAdapter(["Arr."])

    await run_workflow(step.create_workflow(question="Why?", persona="a pirate"), adapter)

    assert set(step.parameters()) == {"persona", "question"}
    sent = [(m.role, m.content) for m in adapter.requests[0].messages]
    assert sent == [("system", "You are a pirate."), ("user", "Why?")]


def test_build_refuses_a_variable_that_nothing_can_fill() -> None:
    pipeline = builder(MockAdapter(lambda r: "x"), topic="sea")
    pipeline << Prompt("ask", "Write about {{topic}} in {{style}}")

    with pytest.raises(ConfigurationError, match=r"step 'ask'.*\['style'\]"):
        pipeline.build()


async def test_a_chain_of_prompts_runs_with_the_inputs_filled_in() -> None:
    adapter = MockAdapter(
        lambda r: '["a", "b"]' if "variations" in r.messages[-1].content else "done"
    )
    pipeline = builder(adapter, instruction="Write a haiku")
    (
        pipeline
        << Prompt("vary", "Give 2 variations of: {{instruction}}").scatter()
        << Prompt("execute", "{{instruction}}")
    )

    result = await pipeline.build().execute()

    prompts = [request.messages[-1].content for request in adapter.requests]
    assert prompts == ["Give 2 variations of: Write a haiku", "a", "b"]
    assert [(row["instruction"], row["execute"]) for row in result.rows] == [
        ("a", "done"),
        ("b", "done"),
    ]


def test_from_prompt_is_the_workflow_a_prompt_step_makes() -> None:
    step = Prompt("ask", "Answer {{question}}", system="Be brief.")

    made = step.create_workflow(question="why?")
    direct = Workflow.from_prompt("Answer {{question}}", system="Be brief.", question="why?")

    assert made == direct
    assert Workflow.model_validate_json(made.model_dump_json()) == made  # a Dria document
    assert [task.id for task in made.tasks] == ["prompt", "_end"]
    assert made.external_memory == {"question": "why?"}


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (["red", "green"], "- red\n- green"),
        ((1, 2.5), "- 1\n- 2.5"),
        ({"a": [1, 2]}, '{\n  "a": [\n    1,\n    2\n  ]\n}'),
        (True, "true"),
        (3, "3"),
        (None, ""),
        (Verdict(score=1, reason="ok"), '{\n  "score": 1,\n  "reason": "ok"\n}'),
    ],
    ids=["list", "numbers", "dict", "bool", "int", "none", "model"],
)
async def test_values_that_are_not_text_read_naturally_in_the_prompt(
    value: object, text: str
) -> None:
    adapter = MockAdapter(lambda r: "ok")

    await run_workflow(Workflow.from_prompt("Items:\n{{items}}", items=value), adapter)

    assert adapter.requests[0].messages[-1].content == f"Items:\n{text}"


async def test_a_schema_asks_for_structured_output_and_gives_a_parsed_value() -> None:
    answers = iter(["not json", '{"score": 4, "reason": "clear"}'])
    adapter = MockAdapter(lambda request: next(answers))
    pipeline = builder(adapter, answer="42")
    pipeline << Prompt("judge", "Score {{answer}}", schema=Verdict, system="You judge.")

    result = await pipeline.build().execute()

    first = adapter.requests[0]
    assert first.json_schema == Verdict.model_json_schema()
    assert [(m.role, m.content) for m in first.messages] == [
        ("system", "You judge."),
        ("user", "Score 42"),
    ]
    assert len(adapter.requests) == 2  # the first answer was repaired by asking again
    assert result.steps["judge"].results[0].value == {"score": 4, "reason": "clear"}
