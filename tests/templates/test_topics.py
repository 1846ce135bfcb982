"""`GenerateSubtopics` and `GenerateQuestions` through a pipeline on `MockAdapter`."""

from __future__ import annotations

from pathlib import Path

import pytest

from fanflow import (
    ConfigurationError,
    GenerationRequest,
    MockAdapter,
    OpenAIAdapter,
    PipelineBuilder,
    PipelineConfig,
    load_pipeline,
)
from fanflow.templates import Answer, GenerateQuestions, GenerateSubtopics
from tests.templates._pipelines import builder


def _topic_tree(request: GenerationRequest) -> str:
    prompt = request.messages[0].content  # the task's prompt, also in a repair request
    if "subtopics" in prompt:
        return '["rivers", "mountains"]'
    if "Topic: mountains" in prompt:
        return "Mountains are tall."  # not a JSON list: this task fails, not the run
    if "questions" in prompt:
        return '```json\n["Why do rivers meander?", "Where do rivers start?"]\n```'
    return f"answer to {prompt}"


async def test_topic_to_subtopics_to_questions_to_answers() -> None:
    adapter = MockAdapter(_topic_tree)
    pipeline = builder(adapter, [{"topic": "geography"}])
    pipeline << GenerateSubtopics(n=2).scatter() << GenerateQuestions(n=2).scatter() << Answer()

    result = await pipeline.build().execute()

    first = adapter.requests[0]
    assert "List 2 distinct subtopics" in first.messages[-1].content
    assert "Topic: geography" in first.messages[-1].content
    assert first.json_schema is not None and first.json_schema["type"] == "array"
    assert first.json_schema["maxItems"] == 2
    rows = list(result.rows)
    assert [row["question"] for row in rows] == ["Why do rivers meander?", "Where do rivers start?"]
    assert rows[0]["answer"] == "answer to Why do rivers meander?"
    assert rows[0]["topic"] == "rivers"  # the subtopic is the questions step's topic
    # the malformed answer failed its own task only, after one repair, with its text
    [failure] = result.failures
    assert failure.step == "generate_questions"
    assert "Mountains are tall." in (failure.error or "")


async def test_questions_from_a_passage_read_the_context() -> None:
    adapter = MockAdapter(['["What melts glaciers?"]'])
    pipeline = builder(adapter, [{"context": "Glaciers melt when it is warm."}])
    pipeline << GenerateQuestions(n=1, source="context")

    result = await pipeline.build().execute()

    prompt = adapter.requests[0].messages[-1].content
    assert "answered from the passage below" in prompt
    assert "Glaciers melt when it is warm." in prompt
    assert result.steps["generate_questions"].results[0].value == ["What melts glaciers?"]


async def test_more_items_than_asked_are_refused_and_repaired() -> None:
    adapter = MockAdapter(['["a", "b", "c"]', '["a", "b"]'])
    pipeline = builder(adapter, [{"topic": "t"}])
    pipeline << GenerateSubtopics(n=2)

    result = await pipeline.build().execute()

    assert adapter.calls == 2
    assert result.steps["generate_subtopics"].results[0].value == ["a", "b"]


def test_bad_arguments_are_refused_where_written() -> None:
    with pytest.raises(ConfigurationError, match=r"GenerateSubtopics\(n=\.\.\.\)") as caught:
        GenerateSubtopics(n=0)
    assert "at least 1" in str(caught.value)
    with pytest.raises(ConfigurationError, match="'topic', 'context'"):
        GenerateQuestions(source="passage")  # type: ignore[arg-type]


async def test_the_arguments_survive_a_pipeline_file(tmp_path: Path) -> None:
    network = OpenAIAdapter("http://127.0.0.1:9/v1", model="m")  # never called
    config = PipelineConfig(progress=False, store=False)
    pipeline = PipelineBuilder(config, network).input(topic="x")
    (
        pipeline
        << GenerateSubtopics(n=4, name="subs").scatter(key="context")
        << GenerateQuestions(n=7, source="context")
    )
    path = pipeline.build().dump(tmp_path / "p.yaml")

    loaded = load_pipeline(path)

    steps = {plan.name: plan.template for plan in loaded.plans}
    assert isinstance(steps["subs"], GenerateSubtopics) and steps["subs"].params.n == 4
    questions = steps["generate_questions"]
    assert isinstance(questions, GenerateQuestions)
    assert vars(questions.params) == {"n": 7, "source": "context"}
