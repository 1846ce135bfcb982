"""Rate and PairwiseJudge through a pipeline on MockAdapter."""

from __future__ import annotations

import json

import pytest

from fanflow import ConfigurationError, GenerationRequest, ParseError, Prompt
from fanflow.templates import PairwiseJudge, Rate, pairwise_verdict
from tests.templates._run import prompt_of, run_steps


def rate_answer(request: GenerationRequest) -> str:
    assert request.json_schema is not None
    aspects = request.json_schema["required"]
    if "junk" in prompt_of(request):
        return json.dumps({aspect: {"rationale": "x", "score": 11} for aspect in aspects})
    return json.dumps({aspect: {"rationale": f"ok {aspect}", "score": 7} for aspect in aspects})


async def test_rate_scores_every_aspect() -> None:
    rows = [
        {"instruction": "Say hi", "response": "hi"},
        {"instruction": "Say junk", "response": "junk"},
    ]
    result, adapter = await run_steps(rows, [Rate(aspects=["helpfulness", "tone"])], rate_answer)
    prompt = prompt_of(adapter.requests[0])
    assert "helpfulness, tone" in prompt and "Response:\nhi" in prompt
    (row,) = result.rows
    assert json.loads(row["rate"]) == {
        "helpfulness": {"rationale": "ok helpfulness", "score": 7},
        "tone": {"rationale": "ok tone", "score": 7},
    }
    (failure,) = result.failures  # a score of 11 is refused, twice: that task fails
    assert failure.inputs["response"] == "junk" and '"score": 11' in failure.error


async def test_rate_fields_flow_to_the_next_step() -> None:
    steps = [Rate(aspects=["tone"]), Prompt("note", "Tone: {{tone}}")]
    result, _ = await run_steps(
        [{"instruction": "i", "response": "r"}],
        steps,
        lambda r: "fine" if r.json_schema is None else rate_answer(r),
    )
    assert result.rows[0]["tone"] == {"rationale": "ok tone", "score": 7}


def test_rate_refuses_no_aspects() -> None:
    with pytest.raises(ConfigurationError, match="aspects"):
        Rate(aspects="helpfulness")
    assert Rate().params.aspects == ["helpfulness", "correctness", "clarity"]


def judge_answer(request: GenerationRequest) -> str:
    """Prefers the response holding 'good'; position-biased (always 'A') on 'biased'."""
    prompt = prompt_of(request)
    if "malformed" in prompt:
        return "A is better"
    first = prompt.split("Response A:\n", 1)[1].split("\n", 1)[0]
    if "biased" in prompt:
        return json.dumps({"rationale": "first wins", "better": "A"})
    better = "A" if "good" in first else "B"
    return json.dumps({"rationale": f"{better} is good", "better": better})


async def test_pairwise_judge_asks_in_both_orders() -> None:
    rows = [
        {"instruction": "q1", "response_a": "bad answer", "response_b": "good answer"},
        {"instruction": "q2 biased", "response_a": "one", "response_b": "two"},
        {"instruction": "q3 malformed", "response_a": "one", "response_b": "two"},
    ]
    steps = [PairwiseJudge(), Prompt("echo", "{{winner}}")]
    result, adapter = await run_steps(
        rows, steps, lambda r: judge_answer(r) if r.json_schema else "x"
    )
    orders = [
        (prompt_of(r).split("Response A:\n")[1][:8], prompt_of(r).split("Response B:\n")[1][:8])
        for r in adapter.requests
        if "q1" in prompt_of(r)
    ]
    assert orders == [("bad answ", "good ans"), ("good ans", "bad answ")]
    winners = {row["instruction"]: (row["winner"], row["verdicts"]) for row in result.rows}
    assert winners == {"q1": ("b", ["b", "b"]), "q2 biased": ("tie", ["a", "b"])}
    (failure,) = result.failures
    assert "'A is better'" in failure.error


def test_pairwise_verdict_reads_the_two_orders() -> None:
    text = json.dumps([{"better": "B", "rationale": "r1"}, {"better": "A", "rationale": "r2"}])
    assert pairwise_verdict(text).winner == "b"
    with pytest.raises(ParseError) as caught:
        pairwise_verdict("nonsense")
    assert caught.value.raw == "nonsense"
