"""Finish reasons through a pipeline (issue #12, items 8-10): recorded on every result,
kept by the store and `load_run`, counted in `stats`; a cut-off list is not scattered;
empty, filtered and tool-call-only answers fail their task saying which.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from fanflow import (
    Generation,
    GenerationRequest,
    MockAdapter,
    OpenAIAdapter,
    PipelineBuilder,
    PipelineConfig,
    Prompt,
    TaskStatus,
    ToolCall,
    load_run,
)
from fanflow.testing import MockServer


def _pipeline(adapter: Any, **config: Any) -> PipelineBuilder:
    return PipelineBuilder(PipelineConfig(progress=False, **config), adapter)


def _lists(request: GenerationRequest) -> Generation | str:
    prompt = request.messages[-1].content
    if prompt.startswith("list"):
        if "cut" in prompt:
            return Generation('["alpha", "beta", "gam', finish_reason="length")
        return Generation('["alpha", "beta"]', finish_reason="stop")
    return Generation(f"about {prompt}", finish_reason="stop")


async def test_a_cut_off_list_is_not_scattered_and_the_reason_is_kept() -> None:
    pipeline = _pipeline(MockAdapter(_lists)).input([{"topic": "whole"}, {"topic": "cut"}])
    pipeline << Prompt("items", "list {{topic}}").scatter("item") << Prompt("more", "{{item}}")
    result = await pipeline.build().execute()

    assert sorted(row["more"] for row in result.rows) == ["about alpha", "about beta"]
    (failure,) = result.failures
    assert failure.step == "items" and failure.status == TaskStatus.FAILED
    assert "cut off at max_tokens" in (failure.error or "")
    assert failure.finish_reason == "length"
    assert result.stats.truncated == 1
    assert result.stats.finish_reasons == {"length": 1}
    assert {r.finish_reason for r in result.steps["more"].results} == {"stop"}


async def test_a_cut_off_final_answer_stays_ok_and_is_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    answer = Generation("The answer is", finish_reason="length")
    pipeline = _pipeline(MockAdapter(lambda request: answer)).input(topic="x")
    pipeline << Prompt("say", "say {{topic}}")
    with caplog.at_level(logging.WARNING, logger="fanflow"):
        result = await pipeline.build().execute()
    assert "1 task(s) got an answer cut off at max_tokens" in caplog.text

    assert [row["say"] for row in result.rows] == ["The answer is"]
    (task,) = result.steps["say"].results
    assert task.ok and task.finish_reason == "length"
    assert result.stats.truncated == 1

    again = load_run(result.run_name or "")
    (stored,) = again.steps["say"].results
    assert stored.finish_reason == "length"
    assert again.stats.truncated == 1


async def test_a_cached_result_keeps_its_finish_reason() -> None:
    answer = Generation("The answer is", finish_reason="length")
    adapter = MockAdapter(lambda request: answer)
    first = _pipeline(adapter).input(topic="x")
    first << Prompt("say", "say {{topic}}")
    await first.build().execute()
    second = _pipeline(adapter).input(topic="x")
    second << Prompt("say", "say {{topic}}")
    result = await second.build().execute()

    (task,) = result.steps["say"].results
    assert task.cached and task.finish_reason == "length"
    assert adapter.calls == 1


@pytest.mark.parametrize(
    ("message", "finish", "says"),
    [
        ({"role": "assistant", "content": None}, "stop", "no content"),
        ({"role": "assistant", "content": "I can't help"}, "content_filter", "content filter"),
        (
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            "tool_calls",
            "only with tool calls (f) but the task offered no tools",
        ),
    ],
)
async def test_an_unusable_answer_from_a_server_fails_its_task(
    message: dict[str, Any], finish: str, says: str
) -> None:
    answer = {"message": message, "finish_reason": finish}
    async with MockServer(lambda body: answer) as server:
        adapter = OpenAIAdapter(server.base_url, model="mock-model")
        pipeline = _pipeline(adapter, store=False).input(topic="x")
        pipeline << Prompt("say", "say {{topic}}")
        result = await pipeline.build().execute()
        await adapter.aclose()

    assert result.rows == []
    (failure,) = result.failures
    assert says in (failure.error or "")
    assert failure.finish_reason == finish


async def test_content_parts_from_a_server_become_the_row() -> None:
    parts = [{"type": "text", "text": "Hello, "}, {"type": "text", "text": "world."}]
    answer = {"message": {"role": "assistant", "content": parts}}
    async with MockServer(lambda body: answer) as server:
        adapter = OpenAIAdapter(server.base_url, model="mock-model")
        pipeline = _pipeline(adapter).input(topic="x")
        pipeline << Prompt("say", "say {{topic}}") << Prompt("again", "{{say}}")
        result = await pipeline.build().execute()
        await adapter.aclose()

    assert [row["again"] for row in result.rows] == ["Hello, world."]


async def test_tool_calls_nobody_offered_fail_the_task() -> None:
    call = Generation("", (ToolCall("f", "{}"),), finish_reason="tool_calls")
    pipeline = _pipeline(MockAdapter(lambda request: call)).input(topic="x")
    pipeline << Prompt("say", "say {{topic}}")
    result = await pipeline.build().execute()
    (failure,) = result.failures
    assert "tool calls (f)" in (failure.error or "")
