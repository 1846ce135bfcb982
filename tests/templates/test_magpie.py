"""MagPie through a pipeline on MockAdapter: one task, one workflow loop, the whole chat."""

from __future__ import annotations

import json

import pytest

from fanflow import ConfigurationError, GenerationRequest
from fanflow.templates import MagPie
from tests.templates._run import prompt_of, run_steps


def chat_answer(request: GenerationRequest) -> str:
    """Numbered user and assistant turns; a system prompt holding 'broken' breaks turn 2."""
    assert request.json_schema is not None
    role = request.json_schema["properties"]["role"]["enum"][0]
    prompt = prompt_of(request)
    earlier = prompt.count('"role":"user"') if "so far" in prompt else 0
    if role == "user" and earlier == 1 and "broken" in prompt:
        return "I have a question"  # no JSON: fails this chat, twice (with the repair)
    return json.dumps({"role": role, "content": f"{role} {earlier + (role == 'user')}"})


async def test_two_turns_make_four_messages_in_one_task() -> None:
    rows = [{"system_prompt": "You are a math tutor."}]
    result, adapter = await run_steps(rows, [MagPie(turns=2)], chat_answer)
    (row,) = result.rows
    assert json.loads(row["messages"]) == [
        {"role": "user", "content": "user 1"},
        {"role": "assistant", "content": "assistant 1"},
        {"role": "user", "content": "user 2"},
        {"role": "assistant", "content": "assistant 2"},
    ]
    assert result.stats.tasks["ok"] == 1 and adapter.calls == 4
    first, reply = adapter.requests[0], adapter.requests[1]
    assert "You are a math tutor." in prompt_of(first)
    assert [m.role for m in reply.messages] == ["system", "user"]
    assert reply.messages[0].content == "You are a math tutor."
    assert '{"role":"user","content":"user 1"}' in prompt_of(reply)


async def test_default_system_prompt_and_one_turn() -> None:
    result, adapter = await run_steps([{"seed": "1"}], [MagPie(turns=1)], chat_answer)
    assert len(json.loads(result.rows[0]["messages"])) == 2
    assert adapter.requests[1].messages[0].content.startswith("You are a helpful")


async def test_a_malformed_turn_fails_only_that_chat() -> None:
    rows = [{"system_prompt": "fine"}, {"system_prompt": "broken"}]
    result, _ = await run_steps(rows, [MagPie(turns=2)], chat_answer)
    assert [r["system_prompt"] for r in result.rows] == ["fine"]
    (failure,) = result.failures
    assert "'I have a question'" in failure.error


def test_turns_are_checked_where_written() -> None:
    with pytest.raises(ConfigurationError, match="turns"):
        MagPie(turns=0)
    assert MagPie(turns=2, system_prompt="x").params.turns == 2
