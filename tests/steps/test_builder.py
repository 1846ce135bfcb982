"""`WorkflowBuilder`: Dria's builder API, with inputs inferred and mistakes caught early."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from pydantic import BaseModel

from fanflow import ConfigurationError
from fanflow.steps import (
    ConditionBuilder,
    Edge,
    Expression,
    GetAll,
    Input,
    InputValue,
    InputValueType,
    Insert,
    Message,
    Operator,
    Output,
    OutputType,
    Peek,
    Pop,
    Push,
    Read,
    ReturnValue,
    Size,
    String,
    Workflow,
    WorkflowBuilder,
    Write,
)


class Verdict(BaseModel):
    score: int
    reason: str


def _input_kinds(builder_task_inputs: list[Input]) -> dict[str, InputValueType]:
    return {item.name: item.value.type for item in builder_task_inputs}


# --- steps --------------------------------------------------------------------------------


def test_generative_step_with_a_prompt() -> None:
    builder = WorkflowBuilder()

    task = builder.generative_step("Say hi.", id="hi", outputs=[Write.new("greeting")])

    assert task.id == "hi"
    assert task.operator == Operator.GENERATION
    assert task.messages == [Message(role="user", content="Say hi.")]
    assert task.outputs == [Output(type=OutputType.WRITE, key="greeting", value="__result")]
    assert task.inputs == []
    assert task.output_schema is None


def test_generative_step_reads_its_prompt_from_a_file(tmp_path: Path) -> None:
    prompt = tmp_path / "prompt.md"
    prompt.write_text("Write about {{topic}}.\n", encoding="utf-8")
    builder = WorkflowBuilder(topic="tides")

    task = builder.generative_step(path=prompt, id="essay")

    assert task.messages[-1].content == "Write about {{topic}}.\n"
    assert _input_kinds(task.inputs) == {"topic": InputValueType.READ}


def test_generative_step_accepts_a_path_given_as_text(tmp_path: Path) -> None:
    prompt = tmp_path / "p.md"
    prompt.write_text("Go.", encoding="utf-8")

    task = WorkflowBuilder().generative_step(path=str(prompt))

    assert task.messages[-1].content == "Go."


def test_generative_step_with_a_missing_prompt_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.md"

    with pytest.raises(ConfigurationError, match=r"step 's': cannot read prompt file .*nope\.md"):
        WorkflowBuilder().generative_step(path=missing, id="s")


@pytest.mark.parametrize(("prompt", "path"), [(None, None), ("Go.", "p.md")])
def test_generative_step_needs_exactly_one_of_prompt_and_path(
    prompt: str | None, path: str | None
) -> None:
    with pytest.raises(ConfigurationError, match="exactly one of prompt= or path="):
        WorkflowBuilder().generative_step(prompt, path=path, id="s")


def test_steps_without_an_id_are_numbered_in_order() -> None:
    builder = WorkflowBuilder()

    ids = [builder.generative_step("Go.").id, builder.generative_step("Again.").id]

    assert ids == ["0", "1"]


def test_implicit_input_reads_a_str_memory_value() -> None:
    task = WorkflowBuilder(topic="tides").generative_step("About {{topic}}.")

    assert task.inputs == [
        Input(name="topic", value=InputValue(type=InputValueType.READ, key="topic"))
    ]
    assert task.inputs[0].required is True


def test_implicit_input_gets_all_of_a_list_memory_value() -> None:
    task = WorkflowBuilder(seeds=["a", "b"]).generative_step("Use {{seeds}}.")

    assert _input_kinds(task.inputs) == {"seeds": InputValueType.GET_ALL}


def test_implicit_inputs_follow_what_earlier_steps_write() -> None:
    builder = WorkflowBuilder()
    builder.generative_step("Q?", id="q", outputs=[Write.new("question")])
    builder.generative_step("A!", id="a", outputs=[Push.new("answers")])
    builder.generative_step("Doc.", id="d", outputs=[Insert.new("docs")])

    task = builder.generative_step("{{question}} {{answers}} {{docs}}", id="judge")

    assert _input_kinds(task.inputs) == {
        "question": InputValueType.READ,
        "answers": InputValueType.GET_ALL,
        "docs": InputValueType.GET_ALL,
    }


def test_implicit_inputs_are_listed_once_in_order_of_appearance() -> None:
    builder = WorkflowBuilder(b="2", a="1")

    task = builder.generative_step("{{a}} {{b}} {{a}} {{ b }}")

    assert [item.name for item in task.inputs] == ["a", "b"]


def test_explicit_inputs_win_over_implicit_ones() -> None:
    builder = WorkflowBuilder(seeds=["a", "b"], topic="tides")

    task = builder.generative_step(
        "{{seeds}} {{topic}}", inputs=[Pop.new("seeds"), Read.new("topic", required=False)]
    )

    assert task.inputs == [Pop.new("seeds"), Read.new("topic", required=False)]


def test_explicit_inputs_may_name_keys_the_builder_has_not_seen() -> None:
    builder = WorkflowBuilder()

    task = builder.generative_step("{{later}}", inputs=[Read.new("later", required=False)])

    assert task.inputs == [Read.new("later", required=False)]


def test_every_memory_helper_builds_its_dria_input() -> None:
    assert Read.new("k").value == InputValue(type=InputValueType.READ, key="k")
    assert Pop.new("k").value.type == InputValueType.POP
    assert Peek.new("k", 2).value == InputValue(type=InputValueType.PEEK, key="k", index=2)
    assert GetAll.new("k").value.type == InputValueType.GET_ALL
    assert Size.new("k").value.type == InputValueType.SIZE
    literal = String.new("style", "terse")
    assert (literal.name, literal.value.key) == ("style", "terse")
    assert literal.value.type == InputValueType.STRING
    assert Read.new("k", required=False).required is False


def test_every_output_helper_builds_its_dria_output() -> None:
    assert [Write.new("k").type, Push.new("k").type, Insert.new("k").type] == [
        OutputType.WRITE,
        OutputType.PUSH,
        OutputType.INSERT,
    ]
    assert Write.new("k").value == "__result"


def test_msg_history_comes_before_the_prompt_and_is_templated() -> None:
    builder = WorkflowBuilder(persona="a pirate", topic="tides")

    task = builder.generative_step(
        "Tell me about {{topic}}.",
        msg_history=[
            {"role": "system", "content": "You are {{persona}}."},
            Message(role="assistant", content="Arr."),
        ],
    )

    assert [(m.role, m.content) for m in task.messages] == [
        ("system", "You are {{persona}}."),
        ("assistant", "Arr."),
        ("user", "Tell me about {{topic}}."),
    ]
    assert [item.name for item in task.inputs] == ["persona", "topic"]


def test_msg_history_with_a_bad_message_names_the_step() -> None:
    with pytest.raises(ConfigurationError, match="step 's': msg_history"):
        WorkflowBuilder().generative_step("Go.", id="s", msg_history=[{"speaker": "me"}])


def test_schema_from_a_pydantic_model() -> None:
    task = WorkflowBuilder().generative_step("Judge.", schema=Verdict)

    assert task.output_schema == Verdict.model_json_schema()


def test_schema_from_a_dict_is_copied() -> None:
    schema = {"type": "array", "items": {"type": "string"}}

    task = WorkflowBuilder().generative_step("List.", schema=schema)
    schema["type"] = "object"

    assert task.output_schema == {"type": "array", "items": {"type": "string"}}


def test_schema_needs_the_generation_operator() -> None:
    with pytest.raises(ConfigurationError, match="schema needs operator GENERATION"):
        WorkflowBuilder().generative_step(
            "Call.", id="s", operator=Operator.FUNCTION_CALLING, schema=Verdict
        )


def test_duplicate_step_id_is_refused() -> None:
    builder = WorkflowBuilder()
    builder.generative_step("Go.", id="a")

    with pytest.raises(ConfigurationError, match="'a' exists already; pick another id"):
        builder.function_calling_step("Again.", id="a")


def test_the_end_id_is_reserved() -> None:
    with pytest.raises(ConfigurationError, match="'_end' exists already"):
        WorkflowBuilder().generative_step("Go.", id="_end")


def test_template_variable_nobody_provides_fails_at_that_step() -> None:
    builder = WorkflowBuilder()
    builder.generative_step("Go.", id="first", outputs=[Write.new("draft")])

    with pytest.raises(ConfigurationError, match=r"step 'second' uses \{\{notes\}\}"):
        builder.generative_step("{{draft}} {{notes}}", id="second")


def test_function_calling_step() -> None:
    builder = WorkflowBuilder(city="Paris")

    task = builder.function_calling_step("Weather in {{city}}?", id="call")
    raw = builder.function_calling_step("Weather in {{city}}?", id="raw", raw=True)

    assert task.operator == Operator.FUNCTION_CALLING
    assert raw.operator == Operator.FUNCTION_CALLING_RAW
    assert _input_kinds(task.inputs) == {"city": InputValueType.READ}


def test_search_step_stores_its_query_as_json() -> None:
    builder = WorkflowBuilder(topic="tides")

    task = builder.search_step("{{topic}} tables", lang="fr", n_results=3, id="s")

    assert task.operator == Operator.SEARCH
    assert orjson.loads(task.messages[-1].content) == {
        "query": "{{topic}} tables",
        "search_type": "search",
        "lang": "fr",
        "n_results": 3,
    }
    assert _input_kinds(task.inputs) == {"topic": InputValueType.READ}


# --- flow, return value, config -----------------------------------------------------------


def test_flow_adds_edges_between_known_steps() -> None:
    builder = WorkflowBuilder()
    builder.generative_step("A.", id="a")
    builder.generative_step("B.", id="b")
    builder.flow([Edge(source="a", target="b"), Edge(source="b", target="_end")])

    workflow = builder.build()

    assert [(e.source, e.target) for e in workflow.steps] == [("a", "b"), ("b", "_end")]


def test_flow_naming_an_unknown_task_is_refused() -> None:
    builder = WorkflowBuilder()
    builder.generative_step("A.", id="a")

    with pytest.raises(ConfigurationError, match=r"names 'c', which is no step.*\['_end', 'a'\]"):
        builder.flow([Edge(source="a", target="c")])


def test_flow_adds_nothing_when_one_edge_is_bad() -> None:
    builder = WorkflowBuilder()
    builder.generative_step("A.", id="a")

    with pytest.raises(ConfigurationError):
        builder.flow([Edge(source="a", target="_end"), Edge(source="a", target="c")])

    assert [(e.source, e.target) for e in builder.build().steps] == [("a", "_end")]


def test_set_return_value_of_a_str_key_reads_it() -> None:
    builder = WorkflowBuilder()
    builder.generative_step("Go.", outputs=[Write.new("answer")])

    builder.set_return_value("answer")

    assert builder.build().return_value == ReturnValue(
        input=InputValue(type=InputValueType.READ, key="answer"), to_json=False
    )


def test_set_return_value_of_a_stack_returns_json() -> None:
    builder = WorkflowBuilder(seeds=["a"])
    builder.generative_step("Go.", outputs=[Push.new("answers")])

    builder.set_return_value("answers")

    assert builder.build().return_value == ReturnValue(
        input=InputValue(type=InputValueType.GET_ALL, key="answers"), to_json=True
    )


def test_set_return_value_of_several_keys_returns_a_json_array() -> None:
    builder = WorkflowBuilder(topic="tides")
    builder.generative_step("Go.", outputs=[Push.new("answers")])

    builder.set_return_value(["topic", "answers"])

    assert builder.build().return_value == ReturnValue(
        input=[
            InputValue(type=InputValueType.READ, key="topic"),
            InputValue(type=InputValueType.GET_ALL, key="answers"),
        ],
        to_json=True,
    )


def test_set_return_value_of_an_unknown_key_is_refused() -> None:
    builder = WorkflowBuilder(topic="tides")
    builder.generative_step("Go.", outputs=[Write.new("answer")])

    with pytest.raises(ConfigurationError, match=r"'answr'.*one of: \['answer', 'topic'\]"):
        builder.set_return_value(["answer", "answr"])


def test_config_setters() -> None:
    builder = WorkflowBuilder()
    builder.generative_step("Go.")

    builder.set_max_tokens(750)
    builder.set_max_steps(5)
    builder.set_max_time(0.5)

    config = builder.build().config
    assert (config.max_tokens, config.max_steps, config.max_time) == (750, 5, 0.5)


@pytest.mark.parametrize(
    ("setter", "value"),
    [("set_max_tokens", 0), ("set_max_steps", 0), ("set_max_time", 0), ("set_max_time", -1.0)],
)
def test_config_setters_refuse_values_that_could_never_run(setter: str, value: float) -> None:
    builder = WorkflowBuilder()

    with pytest.raises(ConfigurationError, match=setter.removeprefix("set_")):
        getattr(builder, setter)(value)


# --- build --------------------------------------------------------------------------------


def test_build_adds_the_end_task_and_an_edge_from_the_last_step() -> None:
    builder = WorkflowBuilder(topic="tides")
    builder.generative_step("Q about {{topic}}", id="q", outputs=[Write.new("question")])
    builder.generative_step("A to {{question}}", id="a", outputs=[Write.new("answer")])
    builder.flow([Edge(source="q", target="a")])

    workflow = builder.build()

    assert [task.id for task in workflow.tasks] == ["q", "a", "_end"]
    assert workflow.tasks[-1].operator == Operator.END
    assert [(e.source, e.target) for e in workflow.steps] == [("q", "a"), ("a", "_end")]


def test_build_keeps_an_edge_the_last_step_already_has() -> None:
    builder = WorkflowBuilder()
    builder.generative_step("Go.", id="a", outputs=[Push.new("xs")])
    condition = ConditionBuilder.build(3, Expression.GREATER_THAN_OR_EQUAL, Size.new("xs"), "a")
    builder.flow([Edge(source="a", target="_end", condition=condition)])

    workflow = builder.build()

    assert workflow.steps == [Edge(source="a", target="_end", condition=condition)]


def test_build_of_an_empty_builder_has_only_the_end_task() -> None:
    workflow = WorkflowBuilder().build()

    assert [task.id for task in workflow.tasks] == ["_end"]
    assert workflow.steps == []


def test_build_keeps_the_memory_and_round_trips_as_json() -> None:
    builder = WorkflowBuilder({"topic": "tides"}, seeds=["a", "b"])
    builder.generative_step("{{topic}} {{seeds}}", schema=Verdict, outputs=[Push.new("out")])
    builder.set_return_value("out")

    workflow = builder.build()

    assert workflow.external_memory == {"seeds": ["a", "b"], "topic": "tides"}
    assert Workflow.model_validate_json(workflow.model_dump_json()) == workflow
    assert orjson.loads(workflow.model_dump_json())["tasks"][0]["schema"] == (
        Verdict.model_json_schema()
    )


def test_builder_memory_must_be_text_or_a_list_of_text() -> None:
    with pytest.raises(ConfigurationError, match=r"memory 'n' is a int.*json\.dumps"):
        WorkflowBuilder(n=3)
    with pytest.raises(ConfigurationError, match="memory 'xs' is a list"):
        WorkflowBuilder(xs=["a", 1])


def test_builder_accepts_a_tuple_as_a_stack() -> None:
    workflow = WorkflowBuilder(xs=("a", "b")).build()

    assert workflow.external_memory == {"xs": ["a", "b"]}
