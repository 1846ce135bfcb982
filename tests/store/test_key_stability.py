"""Content keys never change: users' stores find their earlier results by them.

Every key below was computed by `task_key` as it was before its fast path was added
(commit 09fc3e5), and hard-coded here: a change to how keys are computed must give these
very strings, or every user's cache silently misses. The corpus covers workflows built
with `WorkflowBuilder`, `Prompt` and `Workflow.from_prompt`, loaded from Dria JSON,
copied with other limits and tools (as a step's `set_workflow_params` and `set_tools` do),
with memory values of several types, sampling parameters, models and lineages; the last
test runs a pipeline with a store and checks the keys it saved.
"""

from __future__ import annotations

import pickle
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from fanflow import (
    ConditionBuilder,
    Edge,
    Expression,
    GenerationRequest,
    MockAdapter,
    PipelineBuilder,
    PipelineConfig,
    Prompt,
    Read,
    Workflow,
    WorkflowBuilder,
    Write,
)
from fanflow.steps import Lineage, SamplingParams, with_tools
from fanflow.store import task_key

DRIA_WORKFLOW = Path(__file__).parents[1] / "steps" / "dria_workflow.json"
DRIA_DOCUMENTS = Path(__file__).parents[1] / "steps" / "dria_documents"


class Answer(BaseModel):
    answer: str
    confidence: float = 0.5
    tags: list[str] = []


def look_up(city: str, days: int = 3) -> str:
    """Look up the weather of a city.

    Args:
        city: The city's name.
        days: How many days ahead.
    """
    return f"{city}: sunny for {days} days"


def built(memory: dict[str, Any], prompt: str = "Answer: {{question}}") -> Workflow:
    builder = WorkflowBuilder(memory)
    builder.generative_step(id="answer", prompt=prompt, outputs=[Write.new("answer")])
    builder.set_return_value("answer")
    return builder.build()


def two_steps_with_a_condition() -> Workflow:
    builder = WorkflowBuilder(topic="Ünïcödé ☃ 日本語", seeds=["a", "b", "ç"])
    builder.generative_step(
        id="draft",
        prompt="Write about {{topic}} using {{seeds}}",
        outputs=[Write.new("draft")],
        schema=Answer,
        msg_history=[{"role": "system", "content": 'Be brief. "Quoted" \\ slash \n line'}],
    )
    builder.generative_step(id="check", prompt="Is this good? {{draft}}", outputs=[Write.new("ok")])
    condition = ConditionBuilder.build(
        expected="yes",
        expression=Expression.EQUAL,
        input=Read.new("ok", required=True),
        target_if_not="draft",
    )
    builder.flow(
        [
            Edge(source="draft", target="check"),
            Edge(source="check", target="_end", condition=condition),
        ]
    )
    builder.set_return_value(["draft", "ok"])
    builder.set_max_tokens(256)
    builder.set_max_time(12.5)
    builder.set_max_steps(7)
    return builder.build()


def search_and_tools() -> Workflow:
    builder = WorkflowBuilder(city="Paris")
    builder.search_step("weather in {{city}}", id="search", outputs=[Write.new("found")])
    builder.function_calling_step(
        prompt="Call a tool for {{city}}: {{found}}", id="call", outputs=[Write.new("called")]
    )
    builder.flow([Edge(source="search", target="call")])
    builder.set_return_value("called")
    return builder.build()


def with_limits(workflow: Workflow, **limits: Any) -> Workflow:
    """A copy with other limits, as a step's `set_workflow_params` makes it."""
    config = workflow.config.model_copy(update=limits)
    return workflow.model_copy(update={"config": config})


def tool_definitions(*functions: Callable[..., Any]) -> tuple[dict[str, Any], ...]:
    return Prompt("tools", "").set_tools(list(functions)).tool_definitions


QUESTION = Prompt("question", "Write one exam question about {{subtopic}} (part of {{topic}}).")
STRUCTURED = Prompt(
    "answer", "Answer {{question}} for {{who}}", Answer, system="You are {{who}}. Be exact."
)
DICT_SCHEMA = {
    "type": "object",
    "properties": {"items": {"type": "array", "items": {"type": "string"}}},
    "required": ["items"],
}
LISTED = Prompt("listed", "List things about {{value}}", DICT_SCHEMA)
MEMORY_VALUES: dict[str, Any] = {
    "text": "plain text",
    "unicode": "naïve café — 東京 🚀 \u2028",
    "empty": "",
    "int": 42,
    "float": 3.25,
    "bool": True,
    "none": None,
    "flat_list": ["one", 2, 3.5, False],
    "nested": {"b": [1, {"c": "ü"}], "a": None, "z": {"deep": [[1, 2], []]}},
    "model": Answer(answer="yes", tags=["x"]),
    "tuple": ("a", "b"),
}
SAMPLING = SamplingParams.of({"temperature": 0.7, "seed": 7, "stop": ["\n"], "top_p": 0.9}, 2)
NO_TEMPERATURE = SamplingParams.of({"seed": 1, "logit_bias": {"50256": -100}}, 0)

Case = tuple[Workflow, str | None, Lineage, SamplingParams | None]


def corpus() -> dict[str, Case]:
    """Every case by name: workflow, model, lineage, sampling."""
    base = built({"question": "2+2?"})
    cases: dict[str, Case] = {
        "builder": (base, "m", (0, 1), None),
        "builder no model": (base, None, (0,), None),
        "builder deep lineage": (base, "gpt-4o-mini", (12, 3, 0, 7), None),
        "builder unicode model": (base, "modèle/ü", (1,), None),
        "builder stack memory": (
            built({"question": ["a", "b"]}, "Q: {{question}}"),
            "m",
            (2,),
            None,
        ),
        "builder unicode memory": (built({"question": "¿Qué tal? 🙂"}), "m", (0, 0), None),
        "builder max tokens": (with_limits(base, max_tokens=10), "m", (0, 1), None),
        "builder all limits": (
            with_limits(base, max_tokens=99, max_steps=3, max_time=1.5),
            "m",
            (0, 1),
            None,
        ),
        "builder sampling": (base, "m", (0, 1), SAMPLING),
        "builder sampling no temp": (base, "m", (0, 1), NO_TEMPERATURE),
        "builder tools": (with_tools(base, tool_definitions(look_up)), "m", (0,), None),
        "condition and schema": (two_steps_with_a_condition(), "m", (4, 2), None),
        "search and calling": (search_and_tools(), None, (0,), None),
        "dria document": (
            Workflow.model_validate_json(DRIA_WORKFLOW.read_bytes()),
            "m",
            (0,),
            None,
        ),
        "from_prompt": (Workflow.from_prompt("Say {{x}}", x="hi"), "m", (0,), None),
        "from_prompt schema system": (
            Workflow.from_prompt("Say {{x}}", schema=Answer, system="Sys", x=[1, 2]),
            "m",
            (0,),
            None,
        ),
    }
    for path in sorted(DRIA_DOCUMENTS.glob("*.json")):
        loaded = Workflow.model_validate_json(path.read_bytes())
        cases[f"dria {path.stem}"] = (loaded, "m", (0,), None)
    for name, value in MEMORY_VALUES.items():
        workflow = QUESTION.create_workflow(subtopic=value, topic="quantum computing")
        cases[f"prompt {name}"] = (workflow, "m", (0, 1), None)
        cases[f"listed {name}"] = (LISTED.create_workflow(value=value), None, (3,), None)
    question = QUESTION.create_workflow(subtopic="Qubits", topic="quantum computing")
    answer = STRUCTURED.create_workflow(question="What is a qubit?", who="a physicist")
    cases |= {
        "prompt lineages": (question, "m", (5, 0, 1), None),
        "prompt no model": (question, None, (0, 1), None),
        "prompt sampling": (question, "m", (0, 1), SAMPLING),
        "prompt max tokens": (with_limits(question, max_tokens=300), "m", (0, 1), None),
        "prompt tools": (with_tools(question, tool_definitions(look_up)), "m", (0, 1), None),
        "prompt tools and limits": (
            with_limits(with_tools(question, tool_definitions(look_up)), max_time=9),
            "m2",
            (0, 1),
            SAMPLING,
        ),
        "structured prompt": (answer, "m", (1, 2, 3), None),
        "structured sampling": (answer, "m", (1, 2, 3), NO_TEMPERATURE),
    }
    return cases


# Computed by `task_key` at commit 09fc3e5, before its fast path: never edit these.
GOLDEN: dict[str, str] = {
    "builder": "7d3079e40851971a4f75d7883097cc93be552f0a0ce19d65c6d77716b080ea89",
    "builder all limits": "ef1a80d7f6552b9a1129bee39dbd47fe74eefd0bc78c3f88e378f15a7b025b26",
    "builder deep lineage": "e6864992bcf16f84c6f672a2b4d0b243429274201baa3ab9fda79d8eb3e7949c",
    "builder max tokens": "965611c366de9b72662844c3dd12975ecf02ffe8e6f74fd3a15adc06b6efd3ca",
    "builder no model": "e6a8156886e1e791c7449d8ea4d59dd1b9b0f5c37dab498064aa79ac00bafcd1",
    "builder sampling": "d5e03ee399b6b3a6d60e400c6221c907f910b196b5afc99417cbb553a690e33c",
    "builder sampling no temp": "e3a99639d9aa4be80031f26bd9a944959a15b91b2a24ff62c1cf102b7779cb19",
    "builder stack memory": "e366a71f101bdaec567619eb754df340520eca094c0da8afc4ccbd479d33e76f",
    "builder tools": "2887df1574fead39968de011ae3fa963ca0394bc265744a0558e8606ef6eb31e",
    "builder unicode memory": "7ae609746725c19baec2f9f09933922e3e3db9b6444b6e39aef8e33968f0d86f",
    "builder unicode model": "ad225bf833d391edc9b11a4ae6989ee656f808658f55b02a64a051c30cbf0e12",
    "condition and schema": "2def301f1cca7708eba2b13a7450c2a409b7e2987ea2b055ed1906ca6346e2ff",
    "dria document": "184f1d93b5182fa2ac2ba898b7e3433b55dfa0603528d0787163bf2c8fa73360",
    "dria get_dependencies": "0afa3f4ef91d2360bcb9925fe45baa45f762f51fa5046714a251aa7128667656",
    "dria random_vars": "3828a40900d3ace8de00d31e2d54452083729354ec6cba5c715f111d316662ca",
    "from_prompt": "47125d979142372f019bf0320e5cd09acce6ff2a33a30b7351d8f2c34be0eb2c",
    "from_prompt schema system": "099674a2ee3782a63e5582c35e58fc21104eac124df228e6ac9af3ab3226f1fd",
    "listed bool": "0ad2e7fac2f8d2794ab402affd95063adc76a561053d657df72b08989b3d72d5",
    "listed empty": "57a7089165788dc10b8f3c61abb0a3a665b2e5c771268890f450bf1e733c3cda",
    "listed flat_list": "583ce0a57e93b7de2dd97c2b5b128443f8a5e5a0de3e0e9f9513787781516dd8",
    "listed float": "ee43dfcfd19c8251ab58e9d1b84ec88687959df7da50d3397029c6c8b2831627",
    "listed int": "c2ddf6d5169437fa4812f4d6740dc7a59deae9aaa401367b99ba9f4d37e8994b",
    "listed model": "9e03c9a23d299abac9d5dea5d4a7a3065a8a3bbf12e4d95d42fbb02b10f61afa",
    "listed nested": "76b1d5d8fa831abd58603e21a40b7f368926f645fa40822b544b6e70bdfe56e2",
    "listed none": "57a7089165788dc10b8f3c61abb0a3a665b2e5c771268890f450bf1e733c3cda",
    "listed text": "3ad9b3adb1a7edf125af67fa8351db6075e9b29a4de20071565f63bf927569b3",
    "listed tuple": "2168590fee5d6fa9a2b2a8594a36fa16b5419bc1bff74fe6ca7bb780d6d18805",
    "listed unicode": "62a2a6a9b4fda1fa17cb0fc1d4a764b179dcd40f0b3826463e3ce4feed4c3850",
    "prompt bool": "579a15f9a6b54b6d584383b79a112dfcee26191ebb2a52c99bf7af1059e4fbb7",
    "prompt empty": "04253ce649fc951362e4551f699442fa92572e05295d5fee31a95d76d9d7b155",
    "prompt flat_list": "8ec3a69445d28659a424db81242e5ea68be3d0921e57a4b68a4f5f9316e981c2",
    "prompt float": "4194ab4b2154bb1dddcd2ac392d97336833b0f906fb6dffcf4c63855b6ec7bd1",
    "prompt int": "fa4dc9a4d1bb73a21bf009ac53af6049f35c616dac271578b23feedda8c42296",
    "prompt lineages": "accb2c3d7d7411b51a0992d91afbfac2d7e72ddde068bc7860a7b249f4742718",
    "prompt max tokens": "75eaf5b98cf6aff20ccbe7b967c8f6f657063950fe224e6f623e001d4ad5135e",
    "prompt model": "e423da113301ee573a6bbd6663464adc223df960cdd7b2c7a5f1baf4de13ef4f",
    "prompt nested": "e7d32935bc9a40c102985ad864f4d61c4e95535e1369bca8dad99a801d58f319",
    "prompt no model": "7d43d1dd85f25469e54e25831589ed044e13d77b7b6d0baf6fab9e691007f98a",
    "prompt none": "04253ce649fc951362e4551f699442fa92572e05295d5fee31a95d76d9d7b155",
    "prompt sampling": "b864d269710a50ba31a1fce54140d6712679cf77b1e554be22a10a8b8c4545df",
    "prompt text": "cbccaa979a04fd141cc941755e21c1893ae9dfe3785d099764820cce7384119d",
    "prompt tools": "9278efb5a278beea86f2591944feb9635a9e39d5732c265c491e15c9f8260e42",
    "prompt tools and limits": "9b181ec98f325f9526cb44be6167563164754aa6c412b43ccf896794215a0f59",
    "prompt tuple": "f0438da955d432ac413525b154ad0dcc71f44af23ae9f645426315b217c9e815",
    "prompt unicode": "69360ff50038ba2428f9a3ecf5af21da55572474289086c90f7b84c0cdef2300",
    "search and calling": "0ff319e694d7c1656ce976991ad3212fa817c7a431f146f6897ead9b93dd04e7",
    "structured prompt": "a55f1fe569ea005f630f187b0dc7936ed7c1ff7f4a0f212e9e1c632cb2e8f446",
    "structured sampling": "e96c56f8b4356719ae3d0cfc366eca61c1d68812995a9afb01cf017a14f43cad",
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_each_workflow_keeps_the_key_it_had(name: str) -> None:
    workflow, model, lineage, sampling = corpus()[name]
    assert task_key(workflow, model, lineage, sampling) == GOLDEN[name]


def test_the_corpus_is_the_golden_set() -> None:
    assert sorted(corpus()) == sorted(GOLDEN)


def test_a_prompt_gives_its_tasks_the_keys_of_the_same_workflows_built_by_hand() -> None:
    for value in MEMORY_VALUES.values():
        workflow = QUESTION.create_workflow(subtopic=value, topic="t")
        by_hand = Workflow.from_prompt(QUESTION.template, subtopic=value, topic="t")
        assert task_key(workflow, "m", (0,)) == task_key(by_hand, "m", (0,))


def test_a_copy_of_a_prompts_workflow_with_other_parts_has_the_key_of_those_parts() -> None:
    # A prompt's tasks share parts that keys write once: a copy holding other parts (or
    # its own copies of them) must be keyed by what it holds.
    workflow = QUESTION.create_workflow(subtopic="Qubits", topic="quantum computing")
    other = STRUCTURED.create_workflow(question="q", who="w")
    copies = [
        workflow.model_copy(update={"tasks": other.tasks}),
        workflow.model_copy(update={"steps": [], "return_value": None}),
        workflow.model_copy(update={"tasks": [*workflow.tasks]}),
        workflow.model_copy(deep=True),
        with_limits(workflow, max_tokens=5),
        with_tools(workflow, tool_definitions(look_up)),
    ]
    for copy in copies:
        unshared = copy.model_copy(deep=True)  # every part a new object: written in full
        assert task_key(copy, "m", (0,)) == task_key(unshared, "m", (0,))
    assert task_key(copies[2], "m", (0,)) == task_key(workflow, "m", (0,))


def test_a_prompt_sent_to_another_process_gives_its_tasks_the_same_keys() -> None:
    prompt = Prompt("q", "Say {{x}} to {{y}}", Answer, system="Be {{y}}.")
    before = task_key(prompt.create_workflow(x="hi", y="you"), "m", (0, 1))
    copied = pickle.loads(pickle.dumps(prompt))  # as Ray sends steps to its workers
    assert task_key(copied.create_workflow(x="hi", y="you"), "m", (0, 1)) == before
    assert task_key(copied.create_workflow(x="ho", y="you"), "m", (0, 1)) != before


def test_a_workflow_holding_a_value_that_is_not_json_has_no_key() -> None:
    workflow = with_tools(built({"question": "q"}), ({"function": {"name": "f"}, "x": {1, 2}},))
    with pytest.raises(TypeError):
        task_key(workflow, "m", (0,))


def qa_answer(request: GenerationRequest) -> str:
    prompt = request.messages[-1].content
    if prompt.startswith("List"):
        return '["qubits", "gates"]'
    if prompt.startswith("Answer"):
        return '{"answer": "42", "confidence": 0.9, "tags": []}'
    return f"Question about {prompt[-30:]}?"


# Saved by that commit's pipeline (step, lineage as stored): never edit these.
PIPELINE_GOLDEN: dict[tuple[str, str], str] = {
    (
        "answer",
        "00000001.00000001.00000001",
    ): "5000a73aedb7cf80bfe58b69383e6517f713a825fe54522c846a0fe021793bb9",
    (
        "answer",
        "00000001.00000002.00000001",
    ): "b8ea3a4e7f6a938f04e46388b08b981a959ac9e0023ddfe5d29c6e63bd7a4de7",
    (
        "answer",
        "00000002.00000001.00000001",
    ): "c2ee48dede352572d8c64d9c4f56914f1b91397a2fb3da036f0f5e8d49f45edc",
    (
        "answer",
        "00000002.00000002.00000001",
    ): "2db2a9085b0b15563ccee630863dc46eda70f5ff9dfd35834da1dfd038707d23",
    (
        "question",
        "00000001.00000001",
    ): "eb61d4552c882100c2bdca81d805ceb450a75884757f8acb3061f4588ce57736",
    (
        "question",
        "00000001.00000002",
    ): "44e6c6ed01c5b670b081f484d838ef91fa403321e5870648fc8bb6ad57c9c7a1",
    (
        "question",
        "00000002.00000001",
    ): "1a8be7e37d4c8c22fdc883f6b4f53365b4e63a4566548ae952486b9deaff3ab5",
    (
        "question",
        "00000002.00000002",
    ): "d1a6e802d16144d1dab19aec9d287a9b59d6b4dc00a08db9312c65b29f84af44",
    ("subtopics", "00000001"): "57d173052a2a020de76e0d6ee80391fe110309f2bbc79d6b034c36fbb33699d6",
    ("subtopics", "00000002"): "b26444d9f46d982c94bceeac3a32a65e564eb7a40ea61316af01e07fc3dd0455",
}


async def test_a_pipeline_saves_its_tasks_under_the_keys_it_had(tmp_path: Path) -> None:
    path = tmp_path / "keys.db"
    config = PipelineConfig(store=path, progress=False)
    builder = PipelineBuilder(config, MockAdapter(qa_answer))
    builder.input([{"topic": "quantum computing"}, {"topic": "¡protein folding!"}])
    subtopics = Prompt("subtopics", "List subtopics of {{topic}} as a JSON list.")
    question = Prompt("question", "Write a question about {{subtopic}} ({{topic}}).")
    answer = Prompt("answer", "Answer {{question}}", Answer, system="Be exact.")
    (
        builder
        << subtopics.set_models(["m1", "m2"]).scatter()
        << question.set_workflow_params(max_tokens=300).set_generation(temperature=0.5, seed=7)
        << answer.set_tools([look_up]).set_workflow_params(max_time=30)
    )
    result = await builder.build().execute()
    assert result.stats.tasks.get("ok") == 10
    with closing(sqlite3.connect(path)) as db:
        saved = db.execute("SELECT step, lineage, key FROM results").fetchall()
    assert {(step, lineage): key for step, lineage, key in saved} == PIPELINE_GOLDEN
