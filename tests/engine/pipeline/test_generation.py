"""Generation parameters of a step: on the wire, in the cache key, one seed per sample."""

from __future__ import annotations

from typing import Any

from fanflow import (
    GenerationRequest,
    MockAdapter,
    OpenAIAdapter,
    PipelineBuilder,
    PipelineConfig,
    Prompt,
    StepTemplate,
    Workflow,
)
from fanflow.testing import MockServer

QUIET = PipelineConfig(progress=False)


class Ask(StepTemplate):
    def create_workflow(self, topic: str) -> Workflow:
        return Workflow.from_prompt("ask about {{topic}}", topic=topic)


class Answer(StepTemplate):
    def create_workflow(self, ask: str) -> Workflow:
        return Workflow.from_prompt("answer {{ask}}", ask=ask)


def _echo(body: dict[str, Any]) -> str:
    return f"re: {body['messages'][-1]['content']}"


async def test_generation_parameters_go_on_the_wire() -> None:
    async with MockServer(_echo, record=True) as server:
        adapter = OpenAIAdapter(server.base_url, model="mock-model")
        builder = PipelineBuilder(PipelineConfig(progress=False, store=False), adapter)
        builder.input(topic="owls")
        builder << Ask().set_generation(
            temperature=0.9,
            top_p=0.8,
            seed=7,
            stop=["END"],
            max_tokens=50,
            presence_penalty=0.5,
            frequency_penalty=-0.5,
            repetition_penalty=1.1,
            logit_bias={"42": -100},
        )
        result = await builder.build().execute()
        await adapter.aclose()

    assert result.rows[0]["ask"] == "re: ask about owls"
    (body,) = server.request_log
    assert body["temperature"] == 0.9
    assert body["top_p"] == 0.8
    assert body["seed"] == 7
    assert body["stop"] == ["END"]
    assert body["max_tokens"] == 50
    assert body["presence_penalty"] == 0.5
    assert body["frequency_penalty"] == -0.5
    assert body["repetition_penalty"] == 1.1
    assert body["logit_bias"] == {"42": -100}


async def test_a_prompt_step_sends_its_generation_parameters() -> None:
    adapter = MockAdapter(lambda request: "ok")
    builder = PipelineBuilder(QUIET, adapter).input(topic="owls")
    builder << Prompt("say", "say {{topic}}", generation={"temperature": 0.3, "stop": "."})
    await builder.build().execute()

    (request,) = adapter.requests
    assert request.temperature == 0.3
    assert request.extra == {"stop": "."}


async def test_steps_without_generation_parameters_send_none() -> None:
    adapter = MockAdapter(lambda request: "ok")
    builder = PipelineBuilder(QUIET, adapter).input(topic="owls")
    builder << Ask().set_generation(temperature=1.0) << Answer()
    await builder.build().execute()

    first, second = adapter.requests
    assert first.temperature == 1.0
    assert (second.temperature, second.extra) == (None, {})


async def test_broadcast_with_a_seed_gives_each_sample_its_own_seed() -> None:
    adapter = MockAdapter(lambda request: f"answer {request.extra.get('seed')}")
    builder = PipelineBuilder(QUIET, adapter).input([{"topic": "owls"}, {"topic": "cats"}])
    builder << Ask().set_generation(seed=3).broadcast(3) << Answer().set_generation(seed=7)
    result = await builder.build().execute()

    asks = [r for r in adapter.requests if r.messages[-1].content.startswith("ask")]
    assert [r.extra["seed"] for r in asks] == [3, 3]  # input rows are not siblings
    answers = sorted((row["_lineage"][0], row["_lineage"][1], row["answer"]) for row in result.rows)
    assert answers == [
        (root, i, f"answer {7 + i}") for root in (0, 1) for i in range(3)
    ]  # the broadcast child's index decides the offset: reproducible


async def test_broadcast_seeds_reach_the_server() -> None:
    async with MockServer(_echo, record=True) as server:
        adapter = OpenAIAdapter(server.base_url, model="mock-model")
        builder = PipelineBuilder(PipelineConfig(progress=False, store=False), adapter)
        builder.input(topic="owls")
        builder << Ask().broadcast(3) << Answer().set_generation(seed=7, temperature=1.0)
        await builder.build().execute()
        await adapter.aclose()

    answers = [body for body in server.request_log if "answer" in body["messages"][-1]["content"]]
    assert sorted(body["seed"] for body in answers) == [7, 8, 9]
    assert "seed" not in server.request_log[0]


async def test_changing_a_generation_parameter_sends_the_step_again() -> None:
    requests: list[GenerationRequest] = []

    def model(request: GenerationRequest) -> str:
        requests.append(request)
        return "fine"

    async def run(temperature: float, **extra: Any) -> None:
        builder = PipelineBuilder(QUIET, MockAdapter(model)).input(topic="owls")
        builder << Ask() << Answer().set_generation(temperature=temperature, **extra)
        await builder.build().execute()

    await run(0.5)
    assert len(requests) == 2
    await run(0.5)
    assert len(requests) == 2  # the same parameters: answered from the store
    await run(0.6)
    assert len(requests) == 3  # only the step whose parameters changed is sent again
    assert requests[-1].temperature == 0.6
    await run(0.6, seed=1)
    assert len(requests) == 4
    await run(0.6, seed=1)
    assert len(requests) == 4
