"""`result.to_format()`: rows in the shapes TRL trainers expect (sft, prompt_completion,
preference), columns named or inferred, rows that cannot be mapped reported."""

from __future__ import annotations

import logging
from typing import Any

import datasets
import pytest

from fanflow import ConfigurationError, PipelineResult, StepResults
from fanflow.steps import TaskResult


def _run(answers: list[Any], **extra: list[Any]) -> PipelineResult:
    """One step `answer` over root rows {"question": ...} plus any extra root columns."""
    results = []
    for i, answer in enumerate(answers):
        inputs = {"question": f"q{i}", **{name: values[i] for name, values in extra.items()}}
        results.append(
            TaskResult(step="answer", lineage=(i,), inputs=inputs, context={}, result=answer)
        )
    return PipelineResult([StepResults("answer", results)])


def test_sft_infers_the_first_root_column_and_the_leaf_step() -> None:
    dataset = _run(["a0", "a1"]).to_format("sft")

    assert isinstance(dataset, datasets.Dataset)
    assert dataset.column_names == ["messages"]
    assert dataset[0]["messages"] == [
        {"role": "user", "content": "q0"},
        {"role": "assistant", "content": "a0"},
    ]


def test_the_prompt_inferred_is_the_final_steps_input_not_the_first_column() -> None:
    results = [
        TaskResult(step="answer", lineage=(0, 0), inputs={"question": "q0", "n": 3},
                   context={"topic": "rivers"}, result="a0"),
    ]  # fmt: skip
    dataset = PipelineResult([StepResults("answer", results)]).to_format("sft")

    assert dataset[0]["messages"][0] == {"role": "user", "content": "q0"}


def test_a_prompt_that_cannot_be_told_apart_must_be_named() -> None:
    results = [
        TaskResult(step="judge", lineage=(0,), inputs={"a": "x", "b": "y"},
                   context={"topic": "rivers"}, result="a"),
    ]  # fmt: skip
    with pytest.raises(ConfigurationError, match=r"prompt=.*topic, a, b, judge"):
        PipelineResult([StepResults("judge", results)]).to_format("sft")


def test_sft_with_a_system_column() -> None:
    dataset = _run(["a0"], persona=["be brief"]).to_format(
        "sft", prompt="question", completion="answer", system="persona"
    )

    assert [m["role"] for m in dataset[0]["messages"]] == ["system", "user", "assistant"]
    assert dataset[0]["messages"][0]["content"] == "be brief"


def test_prompt_completion_plain_and_conversational() -> None:
    result = _run(["a0", "a1"])

    plain = result.to_format("prompt_completion", prompt="question", completion="answer")
    chat = result.to_format("prompt_completion", conversational=True)

    assert plain.to_list() == [
        {"prompt": "q0", "completion": "a0"},
        {"prompt": "q1", "completion": "a1"},
    ]
    assert chat[1] == {
        "prompt": [{"role": "user", "content": "q1"}],
        "completion": [{"role": "assistant", "content": "a1"}],
    }


def test_preference_with_named_columns() -> None:
    result = _run(["good0", "good1"], worse=["bad0", "bad1"])

    dataset = result.to_format("preference", chosen="answer", rejected="worse")
    chat = result.to_format("preference", chosen="answer", rejected="worse", conversational=True)

    assert dataset.to_list()[0] == {"prompt": "q0", "chosen": "good0", "rejected": "bad0"}
    assert chat[0]["chosen"] == [{"role": "assistant", "content": "good0"}]
    assert chat[0]["prompt"] == [{"role": "user", "content": "q0"}]


def test_preference_without_named_columns_says_what_to_pass() -> None:
    with pytest.raises(ConfigurationError, match=r"chosen=.*rejected="):
        _run(["a0"]).to_format("preference")


def test_preference_infers_chosen_and_rejected_columns_by_name() -> None:
    result = _run(["x"], chosen=["yes"], rejected=["no"])

    dataset = result.to_format("preference")

    assert dataset[0] == {"prompt": "q0", "chosen": "yes", "rejected": "no"}


def test_an_unknown_kind_or_column_is_a_configuration_error() -> None:
    result = _run(["a0"])
    with pytest.raises(ConfigurationError, match="sft"):
        result.to_format("dpo")
    with pytest.raises(ConfigurationError, match=r"'nope'.*question"):
        result.to_format("sft", prompt="nope")


def test_a_row_that_cannot_be_mapped_is_named_not_dropped() -> None:
    result = _run(["a0", None, {"not": "text"}])

    with pytest.raises(ConfigurationError) as raised:
        result.to_format("prompt_completion")

    message = str(raised.value)
    assert "row 1" in message and "row 2" in message and "'answer'" in message
    assert "on_invalid='skip'" in message


def test_skipping_rows_that_cannot_be_mapped_logs_them(caplog: pytest.LogCaptureFixture) -> None:
    result = _run(["a0", None, "a2"])

    with caplog.at_level(logging.WARNING, logger="fanflow"):
        dataset = result.to_format("sft", on_invalid="skip")

    assert len(dataset) == 2
    assert "skipped 1 of 3 rows" in caplog.text and "row 1" in caplog.text


def test_no_rows_give_an_empty_dataset_with_the_format_columns() -> None:
    dataset = _run([]).to_format("prompt_completion", prompt="question", completion="answer")

    assert len(dataset) == 0
    assert dataset.column_names == ["prompt", "completion"]


async def test_a_store_backed_pipeline_run_maps_to_sft() -> None:
    from fanflow import MockAdapter, PipelineBuilder, PipelineConfig, StepTemplate, Workflow

    class Answer(StepTemplate):
        def create_workflow(self, question: str) -> Workflow:
            return Workflow.from_prompt("{{question}}", question=question)

    config = PipelineConfig(progress=False, retry=None)
    adapter = MockAdapter(lambda request: request.messages[-1].content.upper())
    builder = PipelineBuilder(config, adapter).input([{"question": "hi"}, {"question": "yo"}])
    builder << Answer(name="answer")
    result = await builder.build().execute()

    dataset = result.to_format("sft")

    assert sorted(row["messages"][1]["content"] for row in dataset) == ["HI", "YO"]
    assert all(
        row["messages"][0] == {"role": "user", "content": row["messages"][1]["content"].lower()}
        for row in dataset
    )
