"""Answers that are not what they look like (issue #12, items 8-9), in one workflow:
cut off at max_tokens, empty, only tool calls nobody offered, withheld by a content filter.
"""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from fanflow import ExecutionError, Generation, ParseError, ToolCall
from fanflow.engine import run_workflow
from fanflow.steps import ConditionBuilder, Edge, Expression, Read, Workflow, WorkflowBuilder, Write

from . import FakeAdapter


class Verdict(BaseModel):
    score: int


def _one_prompt() -> Workflow:
    builder = WorkflowBuilder()
    builder.generative_step("Say something.", id="say", outputs=[Write.new("v")])
    builder.set_return_value("v")
    builder.set_max_tokens(20)
    return builder.build()


async def test_a_cut_off_plain_answer_is_kept_with_its_finish_reason() -> None:
    adapter = FakeAdapter(Generation("The answer is", finish_reason="length"))
    meter_result = await run_workflow(_one_prompt(), adapter)
    assert meter_result.result == "The answer is"
    assert meter_result.finish_reason == "length"


async def test_a_whole_answer_finishes_with_stop() -> None:
    result = await run_workflow(_one_prompt(), FakeAdapter(Generation("Hi.", finish_reason="stop")))
    assert result.finish_reason == "stop"


async def test_a_cut_off_structured_answer_fails_saying_so_without_a_repair() -> None:
    builder = WorkflowBuilder()
    builder.generative_step("Judge.", id="judge", schema=Verdict, outputs=[Write.new("v")])
    builder.set_return_value("v")
    builder.set_max_tokens(8)
    adapter = FakeAdapter(Generation('{"score": 1', finish_reason="length"))

    with pytest.raises(ParseError, match=r"cut off at max_tokens=8") as caught:
        await run_workflow(builder.build(), adapter)
    assert caught.value.raw == '{"score": 1'
    assert adapter.calls == 1  # a repair would be cut off the same way


async def test_a_condition_on_a_cut_off_answer_fails_the_task() -> None:
    builder = WorkflowBuilder()
    builder.generative_step("Count.", id="count", outputs=[Write.new("n")])
    builder.generative_step("Big.", id="big")
    builder.generative_step("Small.", id="small")
    condition = ConditionBuilder.build(10, Expression.GREATER_THAN, Read.new("n"), "small")
    builder.flow(
        [
            Edge(source="count", target="big", condition=condition),
            Edge(source="big", target="_end"),
            Edge(source="small", target="_end"),
        ]
    )
    builder.set_max_tokens(1)
    adapter = FakeAdapter(Generation("12", finish_reason="length"), "ok", "ok")

    with pytest.raises(ExecutionError, match=r"'count'.*cut off at max_tokens=1"):
        await run_workflow(builder.build(), adapter)


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (Generation("", finish_reason="stop"), "no content"),
        (Generation("", finish_reason="length"), "cut off at max_tokens=20 before any text"),
        (Generation("I cannot", finish_reason="content_filter"), "content filter"),
        (
            Generation("", (ToolCall("get_weather", "{}"),), finish_reason="tool_calls"),
            "only with tool calls (get_weather) but the task offered no tools",
        ),
    ],
)
async def test_an_answer_with_nothing_usable_fails_the_task_saying_which(
    answer: Generation, says: str
) -> None:
    with pytest.raises(ExecutionError, match=r"'say'") as caught:
        await run_workflow(_one_prompt(), FakeAdapter(answer))
    assert says in str(caught.value)
