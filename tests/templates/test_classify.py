"""`Classify` through a pipeline on `MockAdapter`."""

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
from fanflow.templates import Classify
from tests.templates._pipelines import builder

LABELS = ["positive", "negative", "neutral"]


def _sentiment(request: GenerationRequest) -> str:
    text = request.messages[0].content
    if "Loved it" in text:
        return '{"label": "positive"}'
    if "Meh" in text:
        return '{"label": "lukewarm"}'  # not a label, also when asked again
    return "not json at all"


async def test_each_text_gets_one_of_the_labels() -> None:
    adapter = MockAdapter(_sentiment)
    pipeline = builder(adapter, [{"text": "Loved it!"}])
    pipeline << Classify(labels=LABELS, task="Classify the sentiment of a review.")

    result = await pipeline.build().execute()

    request = adapter.requests[0]
    prompt = request.messages[-1].content
    assert prompt.startswith("Classify the sentiment of a review.\n")
    assert "- positive\n- negative\n- neutral" in prompt
    assert "Loved it!" in prompt
    assert request.json_schema is not None
    assert request.json_schema["properties"]["label"]["enum"] == LABELS
    assert [r.value for r in result.steps["classify"].ok] == [{"label": "positive"}]


async def test_a_label_not_in_the_list_fails_that_task_naming_the_labels() -> None:
    adapter = MockAdapter(_sentiment)
    rows = [{"text": "Loved it!"}, {"text": "Meh."}, {"text": "???"}]
    pipeline = builder(adapter, rows)
    pipeline << Classify(labels=LABELS)

    result = await pipeline.build().execute()

    assert [r.value["label"] for r in result.steps["classify"].ok] == ["positive"]
    failures = {f.inputs["text"]: f.error or "" for f in result.failures}
    assert set(failures) == {"Meh.", "???"}
    assert "'lukewarm' is not one of ['positive', 'negative', 'neutral']" in failures["Meh."]
    assert "not json at all" in failures["???"]  # the raw answer


@pytest.mark.parametrize(
    ("labels", "problem"),
    [
        ("positive", "a list of label names"),
        (["only"], "at least two"),
        (["a", ""], "at least two non-empty"),
        (["a", "b", "a"], "lists a label twice"),
    ],
)
def test_bad_labels_are_refused_where_written(labels: object, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        Classify(labels=labels)  # type: ignore[arg-type]


def test_the_arguments_survive_a_pipeline_file(tmp_path: Path) -> None:
    network = OpenAIAdapter("http://127.0.0.1:9/v1", model="m")  # never called
    config = PipelineConfig(progress=False, store=False)
    pipeline = PipelineBuilder(config, network).input(text="t")
    pipeline << Classify(labels=["spam", "ham"], task="Is this email spam?")

    loaded = load_pipeline(pipeline.build().dump(tmp_path / "p.yaml"))

    step = loaded.plans[0].template
    assert isinstance(step, Classify)
    assert vars(step.params) == {"labels": ["spam", "ham"], "task": "Is this email spam?"}
