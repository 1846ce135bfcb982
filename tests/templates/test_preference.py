"""preference_pipeline: answers from several models, judged pairwise, as preference rows."""

from __future__ import annotations

import json

import pytest

from fanflow import (
    ConfigurationError,
    GenerationRequest,
    MockAdapter,
    PipelineBuilder,
    PipelineConfig,
    load_pipeline,
)
from fanflow.templates import preference_pipeline
from tests.templates._run import prompt_of


def model_answer(request: GenerationRequest) -> str:
    """Each model answers in its own words; the judge prefers 'qwen' (whatever the order),
    is position-biased on 'tie me', and writes no JSON on 'break me'."""
    prompt = prompt_of(request)
    if request.json_schema is None:
        return f"{request.model} says hi to: {prompt}"
    if "break me" in prompt:
        return "no verdict"
    if "tie me" in prompt:
        return json.dumps({"rationale": "first", "better": "A"})
    first = prompt.split("Response A:\n", 1)[1].split("\n", 1)[0]
    better = "A" if first.startswith("qwen") else "B"
    return json.dumps({"rationale": "qwen is clearer", "better": better})


async def run(models: list[str], instructions: list[str]):  # type: ignore[no-untyped-def]
    adapter = MockAdapter(model_answer, model="judge-default")
    builder = PipelineBuilder(PipelineConfig(store=False), adapter)
    preference_pipeline(builder, instructions, models=models, judge_model="judge")
    return await builder.build().execute(), adapter


async def test_two_models_make_chosen_and_rejected_rows() -> None:
    result, adapter = await run(["llama", "qwen"], ["Explain DNS", "tie me", "break me"])
    rows = [
        {
            key: row[key]
            for key in (
                "prompt",
                "chosen",
                "rejected",
                "chosen_model",
                "rejected_model",
                "rationale",
            )
        }
        for row in result.rows
    ]
    assert rows == [
        {
            "prompt": "Explain DNS",
            "chosen": "qwen says hi to: Explain DNS",
            "rejected": "llama says hi to: Explain DNS",
            "chosen_model": "qwen",
            "rejected_model": "llama",
            "rationale": "qwen is clearer",
        }
    ]
    assert result.rows[0]["preference"]["chosen_model"] == "qwen"
    assert result.stats.filtered == 1  # the tie
    (failure,) = result.failures
    assert "'no verdict'" in failure.error
    judged = [r for r in adapter.requests if r.json_schema is not None]
    assert {r.model for r in judged} == {"judge"}
    assert "Instruction:\nExplain DNS\n\nResponse A:\nllama says hi" in prompt_of(judged[0])
    assert {r.model for r in adapter.requests if r.json_schema is None} == {"llama", "qwen"}


async def test_more_than_two_models_are_routed_two_at_a_time() -> None:
    instructions = [f"Question {i}" for i in range(8)]
    result, adapter = await run(["llama", "qwen", "mistral"], instructions)
    answered = [r for r in adapter.requests if r.json_schema is None]
    assert len(answered) == 16  # two answers per instruction, not three
    assert len(result.rows) + result.stats.filtered == 8
    for row in result.rows:
        assert {row["chosen_model"], row["rejected_model"]} <= {"llama", "qwen", "mistral"}
        assert row["chosen_model"] != row["rejected_model"]


def test_needs_two_different_models() -> None:
    builder = PipelineBuilder(PipelineConfig(store=False), MockAdapter(["x"]))
    with pytest.raises(ConfigurationError, match="two or more"):
        preference_pipeline(builder, ["q"], models=["llama"])


async def test_the_pipeline_dumps_and_loads_with_its_templates(tmp_path) -> None:  # type: ignore[no-untyped-def]
    builder = PipelineBuilder(PipelineConfig(store=False), MockAdapter(model_answer, model="m"))
    preference_pipeline(builder, ["Explain DNS"], models=["llama", "qwen"])
    builder.build().dump(tmp_path / "preference.yaml")
    loaded = load_pipeline(
        tmp_path / "preference.yaml", network=MockAdapter(model_answer, model="m")
    )
    result = await loaded.execute()
    assert [row["chosen_model"] for row in result.rows] == ["qwen"]
