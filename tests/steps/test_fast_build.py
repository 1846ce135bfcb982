"""The builder's unvalidated construction gives exactly what validation would have given."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from pydantic import BaseModel, ValidationError

from fanflow import ConfigurationError
from fanflow.steps import (
    ConditionBuilder,
    Config,
    Edge,
    Expression,
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
    Task,
    Workflow,
    WorkflowBuilder,
    Write,
)
from fanflow.steps._validation import template_variables
from fanflow.steps._workflow import trusted_constructor


class Verdict(BaseModel):
    score: int
    reason: str


def _one_step() -> WorkflowBuilder:
    builder = WorkflowBuilder(topic="tides", subtopic="neap tides")
    builder.generative_step(
        id="question",
        prompt="Ask about {{subtopic}} (part of {{topic}}).",
        outputs=[Write.new("question")],
    )
    builder.set_return_value("question")
    return builder


def _stacks_and_explicit_inputs() -> WorkflowBuilder:
    builder = WorkflowBuilder({"seeds": ["a", "b"]}, topic="t")
    builder.generative_step(
        "{{topic}}: {{seeds}}, said {{tone}}",
        id="s",
        inputs=[Peek.new("seeds", index=1), String.new("tone", "dry")],
        outputs=[Push.new("out"), Insert.new("docs")],
    )
    builder.generative_step("Last of {{out}}", id="t", inputs=[Pop.new("out", required=False)])
    builder.flow([Edge(source="s", target="t")])
    builder.set_return_value(["out", "docs", "topic"])
    return builder


def _schema_and_history() -> WorkflowBuilder:
    builder = WorkflowBuilder(topic="t")
    builder.generative_step(
        "Judge {{topic}}.",
        id="judge",
        schema=Verdict,
        msg_history=[
            Message(role="system", content="Be fair about {{topic}}."),
            {"role": "assistant", "content": "Ready."},
        ],
        outputs=[Write.new("verdict")],
    )
    builder.generative_step("List.", id="list", schema={"type": "array"})
    builder.flow([Edge(source="judge", target="list")])
    builder.set_max_tokens(64)
    builder.set_return_value("verdict")
    return builder


def _condition_loop() -> WorkflowBuilder:
    builder = WorkflowBuilder(xs=["x"])
    builder.generative_step("More.", id="a", outputs=[Push.new("xs")])
    condition = ConditionBuilder.build(3, Expression.GREATER_THAN_OR_EQUAL, Size.new("xs"), "a")
    builder.flow([Edge(source="a", target="_end", condition=condition, fallback="_end")])
    builder.set_max_steps(10)
    builder.set_return_value("xs")
    return builder


def _tools() -> WorkflowBuilder:
    builder = WorkflowBuilder(city="Oslo", topic="fjords")
    builder.function_calling_step("Weather in {{city}}?", id="call", outputs=[Write.new("w")])
    builder.function_calling_step("Raw {{w}}", id="raw", raw=True, outputs=[Write.new("r")])
    builder.search_step("{{topic}} tables", lang="fr", n_results=3, id="find")
    builder.flow([Edge(source="call", target="raw"), Edge(source="raw", target="find")])
    builder.set_max_time(30.5)
    builder.set_return_value("r")
    return builder


SHAPES: dict[str, Callable[[], WorkflowBuilder]] = {
    "one step": _one_step,
    "stacks and explicit inputs": _stacks_and_explicit_inputs,
    "schema and history": _schema_and_history,
    "condition loop": _condition_loop,
    "tools": _tools,
    "empty": WorkflowBuilder,
}


def _models(value: Any) -> Iterator[BaseModel]:
    """Every model in `value`, nested ones included."""
    if isinstance(value, BaseModel):
        yield value
        for item in value.__dict__.values():
            yield from _models(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _models(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _models(item)


def _mutables(value: Any) -> Iterator[object]:
    """Every list, dict, set and model reachable from `value`."""
    if isinstance(value, BaseModel):
        yield value
        yield value.__pydantic_fields_set__
        yield from _mutables(value.__dict__)
    elif isinstance(value, (list, dict, set)):
        yield value
        items = value.values() if isinstance(value, dict) else value
        for item in items:
            yield from _mutables(item)


@pytest.mark.parametrize("shape", SHAPES)
def test_a_built_workflow_equals_the_same_document_loaded(shape: str) -> None:
    built = SHAPES[shape]().build()
    if shape == "empty":  # loading refuses a document that produces nothing: construct it
        loaded = Workflow(**orjson.loads(built.model_dump_json()))
    else:
        loaded = Workflow.model_validate_json(built.model_dump_json())

    assert built == loaded
    assert built.model_dump_json() == loaded.model_dump_json()
    assert built.model_dump_json(exclude_none=False) == loaded.model_dump_json(exclude_none=False)
    assert built.model_dump() == loaded.model_dump()
    assert built.canonical_json() == loaded.canonical_json()
    assert built.model_copy(deep=True) == loaded
    assert built.model_copy() == loaded


@pytest.mark.parametrize("shape", SHAPES)
def test_every_model_of_a_built_workflow_is_complete(shape: str) -> None:
    for model in _models(SHAPES[shape]().build()):
        assert list(model.__dict__) == list(type(model).model_fields)
        assert model.__pydantic_extra__ is None
        assert model.__pydantic_private__ is None
        assert model.model_fields_set <= set(type(model).model_fields)


@pytest.mark.parametrize("shape", SHAPES)
def test_built_workflows_share_nothing_mutable(shape: str) -> None:
    first, second = SHAPES[shape]().build(), SHAPES[shape]().build()

    shared = {id(item) for item in _mutables(first)} & {id(item) for item in _mutables(second)}

    assert not shared


def test_fields_set_is_what_validation_gives() -> None:
    workflow = _one_step().build()
    task, end = workflow.tasks
    implicit = task.inputs[0]

    assert workflow.model_fields_set == set(Workflow.model_fields)
    assert workflow.config.model_fields_set == Config().model_fields_set
    assert task.model_fields_set == {
        "id",
        "operator",
        "messages",
        "inputs",
        "outputs",
        "output_schema",
    }
    assert end.model_fields_set == {"id", "operator", "messages"}
    assert task.messages[0].model_fields_set == {"role", "content"}
    assert implicit.model_fields_set == {"name", "value"}
    assert implicit.value.model_fields_set == {"type", "key"}
    assert task.outputs[0].model_fields_set == {"type", "key"}
    assert workflow.steps[0].model_fields_set == {"source", "target"}
    assert workflow.return_value is not None
    assert workflow.return_value.model_fields_set == {"input", "to_json"}
    assert Read.new("k").model_fields_set == {"name", "value", "required"}
    assert Read.new("k").value.model_fields_set == {"type", "key", "index"}


@pytest.mark.parametrize(
    ("cls", "values"),
    [
        (Message, {"role": "user", "content": "hi"}),
        (InputValue, {"type": InputValueType.PEEK, "key": "k", "index": 2}),
        (Output, {"type": OutputType.PUSH, "key": "k"}),
        (Config, {}),
        (Task, {"id": "t", "operator": Operator.END, "messages": []}),
        (Edge, {"source": "a", "target": "b"}),
    ],
)
def test_trusted_constructor_matches_validation(
    cls: type[BaseModel], values: dict[str, Any]
) -> None:
    made = trusted_constructor(cls, *values)(*values.values())
    validated = cls(**values)

    assert made == validated
    assert list(made.__dict__) == list(validated.__dict__)
    assert made.model_fields_set == validated.model_fields_set
    assert made.model_dump_json() == validated.model_dump_json()


def test_trusted_constructor_refuses_what_it_cannot_build() -> None:
    with pytest.raises(TypeError, match="Task needs 'id' given"):
        trusted_constructor(Task, "operator")
    with pytest.raises(TypeError, match=r"Task has no fields \['nope'\]"):
        trusted_constructor(Task, "id", "operator", "nope")

    class Mutable(BaseModel):
        tags: list[str] = []  # pydantic copies this default for each instance

    with pytest.raises(TypeError, match="Mutable needs 'tags' given"):
        trusted_constructor(Mutable)


def test_default_factories_give_each_model_its_own_value() -> None:
    first, second = WorkflowBuilder().build(), WorkflowBuilder().build()

    first.config.tools.append("search")

    assert second.config.tools == ["ALL"]


def test_a_task_changed_after_a_valid_build_of_its_shape_is_still_checked() -> None:
    _one_step().build()  # this shape passes and is remembered
    builder = WorkflowBuilder(topic="tides", subtopic="neap tides")
    task = builder.generative_step(
        id="question",
        prompt="Ask about {{subtopic}} (part of {{topic}}).",
        outputs=[Write.new("question")],
    )
    task.inputs.pop()

    with pytest.raises(ConfigurationError, match=r"uses \{\{topic\}\} but has no input"):
        builder.build()


def test_an_edge_changed_after_flow_is_still_checked() -> None:
    builder = WorkflowBuilder()
    builder.generative_step("A.", id="a")
    builder.generative_step("B.", id="b")
    edge = Edge(source="a", target="b")
    builder.flow([edge])
    builder.build()
    edge.target = "nowhere"

    with pytest.raises(ConfigurationError, match="its target 'nowhere' names no task"):
        builder.build()


def test_parts_given_as_data_are_still_validated() -> None:
    builder = WorkflowBuilder()
    task = builder.generative_step(
        "Go.",
        id="s",
        operator="generation",  # type: ignore[arg-type]
        outputs=[{"type": "write", "key": "out"}],  # type: ignore[list-item]
    )

    assert task.operator is Operator.GENERATION
    assert task.outputs == [Write.new("out")]
    with pytest.raises(ConfigurationError, match="step '': id"):
        builder.generative_step("Go.", id="")
    with pytest.raises(ValidationError):
        Read.new(1)  # type: ignore[arg-type]


def test_template_variables_are_read_once_per_text() -> None:
    text = "{{a}} and {{ b }} and {{a}}"

    assert template_variables(text) == ("a", "b")
    assert template_variables(text) is template_variables(text)


def test_explicit_input_and_return_value_helpers_match_validation() -> None:
    assert Read.new("k", required=False) == Input(
        name="k", value=InputValue(type=InputValueType.READ, key="k"), required=False
    )
    builder = WorkflowBuilder(seeds=["a"])
    builder.set_return_value("seeds")
    assert builder.build().return_value == ReturnValue(
        input=InputValue(type=InputValueType.GET_ALL, key="seeds"), to_json=True
    )
    assert Task(id="t", operator=Operator.END) == Task.model_validate(
        {"id": "t", "operator": "end"}
    )
