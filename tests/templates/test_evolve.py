"""EvolveInstruct and EvolveQuality through a pipeline on MockAdapter."""

from __future__ import annotations

import json

import pytest

from fanflow import ConfigurationError, GenerationRequest
from fanflow.templates import MUTATIONS, EvolveInstruct, EvolveQuality, pick_mutation
from tests.templates._run import prompt_of, run_steps


def evolve_answer(request: GenerationRequest) -> str:
    """Echo the mutation asked for; an instruction holding 'broken' gets bad JSON."""
    assert request.json_schema is not None
    mutation = request.json_schema["properties"]["mutation"]["enum"][0]
    if "broken" in prompt_of(request):
        return "not json at all"
    original = prompt_of(request).split("Instruction:\n", 1)[1].split("\n", 1)[0]
    return json.dumps({"instruction": f"{original} [{mutation}]", "mutation": mutation})


async def test_random_mutation_is_reproducible_and_recorded() -> None:
    rows = [{"instruction": f"Explain topic {i}"} for i in range(6)]
    result, adapter = await run_steps(rows, [EvolveInstruct(seed=3)], evolve_answer)
    assert len(result.rows) == 6
    for row in result.rows:
        value = json.loads(row["evolve_instruct"])
        assert value["mutation"] == pick_mutation(row["instruction"], 3)
        assert value["mutation"] in MUTATIONS
    request = adapter.requests[0]
    assert "Instruction:\nExplain topic" in prompt_of(request)
    assert request.json_schema is not None
    assert set(request.json_schema["required"]) == {"instruction", "mutation"}
    again, _ = await run_steps(rows, [EvolveInstruct(seed=3)], evolve_answer)
    assert [r["evolve_instruct"] for r in again.rows] == [r["evolve_instruct"] for r in result.rows]


async def test_two_rounds_chain_on_the_evolved_instruction() -> None:
    steps = [EvolveInstruct(mutation="deepen"), EvolveInstruct("concretize", name="round_2")]
    result, _ = await run_steps([{"instruction": "Sort a list"}], steps, evolve_answer)
    (row,) = result.rows
    assert json.loads(row["round_2"]) == {
        "instruction": "Sort a list [deepen] [concretize]",
        "mutation": "concretize",
    }
    assert row["mutation"] == "deepen"  # the first round's fields are the row's too


async def test_a_malformed_answer_fails_only_its_task() -> None:
    rows = [{"instruction": "fine"}, {"instruction": "broken one"}]
    result, _ = await run_steps(rows, [EvolveInstruct(mutation="breadth")], evolve_answer)
    assert [r["instruction"] for r in result.rows] == ["fine"]
    (failure,) = result.failures
    assert "ParseError" in failure.error and "'not json at all'" in failure.error


def test_unknown_mutation_is_refused_where_written() -> None:
    with pytest.raises(ConfigurationError, match="unknown mutation 'harder'"):
        EvolveInstruct(mutation="harder")
    assert EvolveInstruct("deepen", seed=2).params.seed == 2


async def test_evolve_quality_improves_the_response() -> None:
    def answer(request: GenerationRequest) -> str:
        assert request.json_schema is not None
        assert request.json_schema["required"] == ["response"]
        if "bad" in prompt_of(request):
            return "{oops"
        return json.dumps({"response": "A better answer."})

    rows = [
        {"instruction": "Say hi", "response": "hi"},
        {"instruction": "Say bad", "response": "bad"},
    ]
    result, adapter = await run_steps(rows, [EvolveQuality()], answer)
    assert "Response:\nhi" in prompt_of(adapter.requests[0])
    assert [json.loads(r["evolve_quality"]) for r in result.rows] == [
        {"response": "A better answer."}
    ]
    assert len(result.failures) == 1
