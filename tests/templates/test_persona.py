"""`Persona` through a pipeline on `MockAdapter`."""

from __future__ import annotations

import orjson

from fanflow import GenerationRequest, MockAdapter, Prompt
from fanflow.templates import Persona, PersonaCard
from tests.templates._pipelines import builder

CARD = {
    "name": "Ines Duarte",
    "traits": ["patient", "frugal", "fixes her own bike"],
    "backstory": "A retired ferry engineer from Porto who now teaches night classes.",
}


async def test_a_population_becomes_a_persona_card_the_next_step_reads() -> None:
    def answer(request: GenerationRequest) -> str:
        if request.json_schema is not None:
            return orjson.dumps(CARD).decode()
        return "What is a good first bike repair?"

    adapter = MockAdapter(answer)
    pipeline = builder(adapter, [{"population": "retired engineers in Portugal"}])
    pipeline << Persona() << Prompt("ask", "You are:\n{{persona}}\nAsk one question.")

    result = await pipeline.build().execute()

    first = adapter.requests[0]
    assert "retired engineers in Portugal" in first.messages[-1].content
    assert first.json_schema == PersonaCard.model_json_schema()
    [persona] = result.steps["persona"].ok
    assert PersonaCard.model_validate(persona.value) == PersonaCard.model_validate(CARD)
    assert '{"name":"Ines Duarte","traits":' in adapter.requests[1].messages[-1].content
    assert [row["ask"] for row in result.rows] == ["What is a good first bike repair?"]


async def test_a_card_missing_a_field_fails_only_its_task_with_the_raw_text() -> None:
    def answer(request: GenerationRequest) -> str:
        if "sailors" in request.messages[0].content:
            return '{"name": "Bo"}'  # no traits, no backstory, twice
        return orjson.dumps(CARD).decode()

    adapter = MockAdapter(answer)
    pipeline = builder(adapter, [{"population": "sailors"}, {"population": "engineers"}])
    pipeline << Persona()

    result = await pipeline.build().execute()

    assert [r.value["name"] for r in result.steps["persona"].ok] == ["Ines Duarte"]
    [failure] = result.failures
    assert "'traits' is a required property" in (failure.error or "")
    assert '{"name": "Bo"}' in (failure.error or "")


def test_a_broadcast_persona_step_keeps_its_name() -> None:
    step = Persona(name="customer").broadcast(3)

    assert step.name == "customer"
    assert step.parameters() == {"population": True}
