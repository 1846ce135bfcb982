"""`Answer` through a pipeline on `MockAdapter`."""

from __future__ import annotations

from pathlib import Path

from fanflow import (
    GenerationRequest,
    MockAdapter,
    OpenAIAdapter,
    PipelineBuilder,
    PipelineConfig,
    load_pipeline,
)
from fanflow.templates import Answer, GenerateQuestions
from tests.templates._pipelines import builder


async def test_the_question_is_the_user_message_and_the_answer_is_text() -> None:
    adapter = MockAdapter(["Because of gravity.", "Blue light scatters."])
    pipeline = builder(adapter, [{"question": "Why do apples fall?"}, {"question": "Why blue?"}])
    pipeline << Answer(system="You are a physics teacher.")

    result = await pipeline.build().execute()

    first = adapter.requests[0]
    assert [(m.role, m.content) for m in first.messages] == [
        ("system", "You are a physics teacher."),
        ("user", "Why do apples fall?"),
    ]
    assert first.json_schema is None  # free text: no schema
    assert sorted(row["answer"] for row in result.rows) == [
        "Because of gravity.",
        "Blue light scatters.",
    ]


async def test_with_context_the_answer_is_asked_from_the_passage() -> None:
    def answer(request: GenerationRequest) -> str:
        if request.json_schema is not None:
            return '["Who built the bridge?"]'
        return "The Romans."

    adapter = MockAdapter(answer)
    pipeline = builder(adapter, [{"context": "The Romans built the bridge in 100 AD."}])
    pipeline << GenerateQuestions(n=1, source="context").scatter() << Answer(context=True)

    result = await pipeline.build().execute()

    prompt = adapter.requests[1].messages[-1].content
    assert "Context:\nThe Romans built the bridge in 100 AD." in prompt
    assert prompt.endswith("Question: Who built the bridge?")
    [row] = result.rows
    assert (row["question"], row["answer"]) == ("Who built the bridge?", "The Romans.")


async def test_a_failed_request_fails_only_that_task() -> None:
    def answer(request: GenerationRequest) -> str:
        if "boom" in request.messages[-1].content:
            raise ValueError("the model broke on this one")
        return "fine"

    adapter = MockAdapter(answer)
    pipeline = builder(adapter, [{"question": "ok?"}, {"question": "boom?"}])
    pipeline << Answer()

    result = await pipeline.build().execute()

    assert [row["answer"] for row in result.rows] == ["fine"]
    [failure] = result.failures
    assert "the model broke on this one" in (failure.error or "")


def test_system_variables_are_inputs_too() -> None:
    step = Answer(system="You answer as {{persona}}.", context=True)

    assert step.parameters() == {"persona": True, "context": True, "question": True}


def test_the_arguments_survive_a_pipeline_file(tmp_path: Path) -> None:
    network = OpenAIAdapter("http://127.0.0.1:9/v1", model="m")  # never called
    config = PipelineConfig(progress=False, store=False)
    pipeline = PipelineBuilder(config, network).input(question="q", context="c")
    pipeline << Answer(system="Be brief.", context=True, name="reply")

    loaded = load_pipeline(pipeline.build().dump(tmp_path / "p.yaml"))

    [plan] = loaded.plans
    step = plan.template
    assert isinstance(step, Answer)
    assert (step.name, step.system, step.params.context) == ("reply", "Be brief.", True)
