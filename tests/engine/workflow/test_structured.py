"""Structured output: the schema is sent, the answer validated, repaired once, then refused."""

from __future__ import annotations

import orjson
import pytest
from pydantic import BaseModel

from fanflow import ExecutionError, ParseError
from fanflow.adapters import Generation, Usage
from fanflow.engine import run_workflow
from fanflow.steps import Edge, Workflow, WorkflowBuilder, Write

from . import FakeAdapter


class Verdict(BaseModel):
    score: int
    reason: str


def _judging(schema: type[BaseModel] | dict[str, object] = Verdict) -> Workflow:
    builder = WorkflowBuilder(answer="42")
    builder.generative_step(
        "Judge {{answer}}.", id="judge", schema=schema, outputs=[Write.new("v")]
    )
    builder.set_return_value("v")
    return builder.build()


def _rescuable() -> Workflow:
    builder = WorkflowBuilder()
    builder.generative_step("Judge.", id="judge", schema=Verdict, outputs=[Write.new("v")])
    builder.generative_step("Rescue.", id="rescue")
    builder.flow(
        [
            Edge(source="judge", target="_end", fallback="rescue"),
            Edge(source="rescue", target="_end"),
        ]
    )
    return builder.build()


async def test_schema_is_sent_as_the_request_json_schema() -> None:
    adapter = FakeAdapter('{"score": 5, "reason": "right"}')

    await run_workflow(_judging(), adapter)

    (request,) = adapter.requests
    assert request.json_schema == Verdict.model_json_schema()
    assert request.messages[-1].content == "Judge 42."


async def test_valid_answer_is_stored_as_compact_json() -> None:
    adapter = FakeAdapter('{ "score": 5,\n  "reason": "right" }')

    result = await run_workflow(_judging(), adapter)

    assert result.memory["v"] == '{"score":5,"reason":"right"}'
    assert result.value == {"score": 5, "reason": "right"}
    assert len(adapter.requests) == 1


@pytest.mark.parametrize(
    "answer",
    [
        '```json\n{"score": 5, "reason": "right"}\n```',
        '```\n{"score": 5, "reason": "right"}\n```',
        '  ```json {"score": 5, "reason": "right"} ```  ',
    ],
    ids=["json-fence", "bare-fence", "one-line-fence"],
)
async def test_valid_answer_inside_code_fences_is_accepted(answer: str) -> None:
    result = await run_workflow(_judging(), FakeAdapter(answer))

    assert result.memory["v"] == '{"score":5,"reason":"right"}'


async def test_dict_schema_is_validated_too() -> None:
    schema = {"type": "array", "items": {"type": "string"}, "minItems": 2}

    result = await run_workflow(_judging(schema), FakeAdapter('["a", "b"]'))

    assert result.value == ["a", "b"]


async def test_invalid_then_valid_takes_two_calls_and_shows_the_error() -> None:
    first = '{"score": "five", "reason": "right"}'
    adapter = FakeAdapter(first, '{"score": 5, "reason": "right"}')

    result = await run_workflow(_judging(), adapter, "judge-model", temperature=0.1)

    assert result.value == {"score": 5, "reason": "right"}
    assert len(adapter.requests) == 2
    repair = adapter.requests[1]
    assert repair.messages[0] == adapter.requests[0].messages[0]
    assert (repair.messages[1].role, repair.messages[1].content) == ("assistant", first)
    feedback = repair.messages[2]
    assert feedback.role == "user"
    assert "at score: 'five' is not of type 'integer'" in feedback.content
    assert "only a JSON value that matches the required schema" in feedback.content
    assert repair.json_schema == Verdict.model_json_schema()
    assert (repair.model, repair.temperature) == ("judge-model", 0.1)


async def test_an_answer_that_is_not_json_is_repaired_too() -> None:
    adapter = FakeAdapter("Score: five out of five.", '{"score": 5, "reason": "right"}')

    await run_workflow(_judging(), adapter)

    assert "it is not JSON" in adapter.requests[1].messages[-1].content


async def test_a_missing_field_is_named_in_the_repair_request() -> None:
    adapter = FakeAdapter('{"score": 5}', '{"score": 5, "reason": "r"}')

    await run_workflow(_judging(), adapter)

    assert "'reason' is a required property" in adapter.requests[1].messages[-1].content


async def test_invalid_twice_is_a_parse_error_with_the_second_answer() -> None:
    second = '```json\n{"score": "still five"}\n```'
    adapter = FakeAdapter('{"score": "five"}', second)

    with pytest.raises(ParseError) as caught:
        await run_workflow(_judging(), adapter)

    error = caught.value
    assert error.raw == second
    assert str(error).startswith("task 'judge' failed and has no fallback: task 'judge':")
    assert "also after one repair attempt" in str(error)
    assert isinstance(error, ExecutionError)
    assert len(adapter.requests) == 2


async def test_invalid_twice_goes_to_the_fallback_and_counts_both_calls() -> None:
    bad = Generation(text="nope", usage=Usage(prompt_tokens=10, completion_tokens=2))
    adapter = FakeAdapter(bad, bad, Generation(text="ok", usage=Usage(prompt_tokens=1)))

    result = await run_workflow(_rescuable(), adapter)

    assert result.path == ("judge", "rescue")
    assert "v" not in result.memory
    assert result.generations == 3
    assert result.usage == Usage(prompt_tokens=21, completion_tokens=4)


async def test_a_repaired_answer_counts_both_calls() -> None:
    adapter = FakeAdapter(
        Generation(text="{}", usage=Usage(completion_tokens=1)),
        Generation(text='{"score": 1, "reason": "r"}', usage=Usage(completion_tokens=2)),
    )

    result = await run_workflow(_judging(), adapter)

    assert result.generations == 2
    assert result.usage == Usage(completion_tokens=3)
    assert orjson.loads(result.result) == {"score": 1, "reason": "r"}


async def test_json_inside_prose_is_found_without_asking_again() -> None:
    # a server that ignores response_format: the model wraps its JSON in words
    adapter = FakeAdapter('Sure! Here it is: {"score": 5, "reason": "right"} Hope it helps.')

    result = await run_workflow(_judging(), adapter)

    assert result.value == {"score": 5, "reason": "right"}
    assert len(adapter.requests) == 1


async def test_the_refusal_shows_the_raw_answer() -> None:
    adapter = FakeAdapter("no idea", "still no idea")

    with pytest.raises(ParseError) as caught:
        await run_workflow(_judging(), adapter)

    assert "the answer was 'still no idea'" in str(caught.value)
