"""`SelfInstruct` through a pipeline on `MockAdapter`."""

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
from fanflow.templates import Answer, SelfInstruct
from tests.templates._pipelines import builder


async def test_seed_instructions_become_new_ones_that_scatter() -> None:
    def answer(request: GenerationRequest) -> str:
        if request.json_schema is not None:
            return 'Here you go:\n["Plan a picnic.", "Explain tides."]'  # prose around it
        return f"done: {request.messages[-1].content}"

    adapter = MockAdapter(answer)
    seeds = ["Write a haiku about rain.", "Sort these numbers: 3, 1, 2."]
    pipeline = builder(adapter, [{"seeds": seeds}])
    pipeline << SelfInstruct(n=2).scatter() << Answer()

    result = await pipeline.build().execute()

    first = adapter.requests[0]
    prompt = first.messages[-1].content
    assert "- Write a haiku about rain.\n- Sort these numbers: 3, 1, 2." in prompt
    assert "Write 2 new instructions" in prompt
    assert first.json_schema is not None and first.json_schema["maxItems"] == 2
    assert adapter.calls == 3  # the list in prose was taken without a repair request
    assert sorted(row["answer"] for row in result.rows) == [
        "done: Explain tides.",
        "done: Plan a picnic.",
    ]


async def test_an_app_description_is_the_source_and_a_bad_answer_fails_its_task() -> None:
    def answer(request: GenerationRequest) -> str:
        if "recipes" in request.messages[0].content:
            return "I cannot help with that."  # twice: the task fails with this text
        return '["Track my runs."]'

    adapter = MockAdapter(answer)
    rows = [{"description": "A cooking app with recipes."}, {"description": "A fitness app."}]
    pipeline = builder(adapter, rows)
    pipeline << SelfInstruct(n=1, source="description")

    result = await pipeline.build().execute()

    assert "An AI application is described as follows" in adapter.requests[0].messages[0].content
    assert [r.value for r in result.steps["self_instruct"].ok] == [["Track my runs."]]
    [failure] = result.failures
    assert "I cannot help with that." in (failure.error or "")


def test_bad_arguments_are_refused_where_written() -> None:
    with pytest.raises(ConfigurationError, match="'seeds', 'description'"):
        SelfInstruct(source="app")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="at least 1"):
        SelfInstruct(n=-2)


def test_the_arguments_survive_a_pipeline_file(tmp_path: Path) -> None:
    network = OpenAIAdapter("http://127.0.0.1:9/v1", model="m")  # never called
    config = PipelineConfig(progress=False, store=False)
    pipeline = PipelineBuilder(config, network).input(description="an app")
    pipeline << SelfInstruct(n=8, source="description")

    loaded = load_pipeline(pipeline.build().dump(tmp_path / "p.yaml"))

    step = loaded.plans[0].template
    assert isinstance(step, SelfInstruct)
    assert vars(step.params) == {"n": 8, "source": "description"}
