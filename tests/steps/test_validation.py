"""Semantic checks: a bad workflow is refused at load or build, naming the problem and fix."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from fanflow import ConfigurationError
from fanflow.steps import (
    ConditionBuilder,
    Edge,
    Expression,
    Input,
    InputValue,
    InputValueType,
    Read,
    Size,
    Workflow,
    WorkflowBuilder,
    Write,
)

END = {"id": "_end", "messages": [], "operator": "end"}


def _task(
    task_id: str,
    content: str = "Go.",
    inputs: list[dict[str, Any]] | None = None,
    writes: list[str] | None = None,
    operator: str = "generation",
) -> dict[str, Any]:
    return {
        "id": task_id,
        "messages": [{"role": "user", "content": content}],
        "inputs": inputs or [],
        "operator": operator,
        "outputs": [{"type": "write", "key": key} for key in writes or []],
    }


def _read(key: str, kind: str = "read", required: bool = True) -> dict[str, Any]:
    return {"name": key, "value": {"type": kind, "key": key}, "required": required}


def _condition(
    expected: str, expression: str = "Equal", target_if_not: str = "a", key: str = "x"
) -> dict[str, Any]:
    return {
        "input": {"type": "read", "key": key},
        "expected": expected,
        "expression": expression,
        "target_if_not": target_if_not,
    }


def _load(
    tasks: list[dict[str, Any]],
    steps: list[dict[str, Any]],
    memory: dict[str, Any] | None = None,
) -> Workflow:
    """Load through JSON, as a Dria user would."""
    document = {"external_memory": memory, "tasks": [*tasks, END], "steps": steps}
    document["return_value"] = {"input": {"type": "string", "key": "done"}}  # loads need one
    return Workflow.model_validate_json(orjson.dumps(document))


def test_minimal_document_is_valid() -> None:
    workflow = _load([_task("a", writes=["x"])], [{"source": "a", "target": "_end"}])

    assert [task.id for task in workflow.tasks] == ["a", "_end"]


# --- edges name tasks ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edge", "role", "name"),
    [
        ({"source": "a", "target": "nowhere"}, "target", "nowhere"),
        ({"source": "ghost", "target": "_end"}, "source", "ghost"),
        ({"source": "a", "target": "_end", "fallback": "rescue"}, "fallback", "rescue"),
        (
            {"source": "a", "target": "_end", "condition": _condition("y", target_if_not="retry")},
            "target_if_not",
            "retry",
        ),
    ],
)
def test_edge_naming_no_task_is_refused_when_written(
    edge: dict[str, Any], role: str, name: str
) -> None:
    """`Workflow(...)` refuses them all; a loaded document may have an open `fallback` or
    `target_if_not`, as Dria's templates do (tests/steps/test_dria_documents.py)."""
    steps = [{"source": "a", "target": "_end"}] if edge["source"] != "a" else []
    with pytest.raises(ConfigurationError) as caught:
        Workflow(tasks=[_task("a", writes=["x"]), END], steps=[edge, *steps])

    message = str(caught.value)
    assert f"edge {edge['source']!r} -> {edge['target']!r}" in message
    assert f"its {role} {name!r} names no task" in message
    assert "use one of: _end, a" in message


def test_edge_to_end_without_an_end_task_is_refused() -> None:
    document = {"tasks": [_task("a")], "steps": [{"source": "a", "target": "_end"}]}

    with pytest.raises(ConfigurationError, match="its target '_end' names no task"):
        Workflow.model_validate(document)


def test_builder_flow_refuses_an_unknown_target_at_once() -> None:
    builder = WorkflowBuilder()
    builder.generative_step("Go.", id="a")

    with pytest.raises(ConfigurationError, match=r"names 'b', which is no step.*add that step"):
        builder.flow([Edge(source="a", target="b")])


@pytest.mark.parametrize(
    "edge",
    [
        Edge(source="a", target="_end", fallback="rescue"),
        Edge(source="ghost", target="_end"),
        Edge(
            source="a",
            target="_end",
            condition=ConditionBuilder.build("y", Expression.EQUAL, Read.new("x"), "rescue"),
        ),
    ],
    ids=["fallback", "source", "target_if_not"],
)
def test_builder_flow_refuses_every_unknown_name(edge: Edge) -> None:
    builder = WorkflowBuilder()
    builder.generative_step("Go.", id="a", outputs=[Write.new("x")])

    with pytest.raises(ConfigurationError, match="which is no step of this builder"):
        builder.flow([edge])


# --- templates and reads ------------------------------------------------------------------


def test_template_variable_without_an_input_is_refused_on_load() -> None:
    task = _task("a", content="About {{topic}}.")

    with pytest.raises(ConfigurationError) as caught:
        _load([task], [{"source": "a", "target": "_end"}], memory={"topic": "t"})

    message = str(caught.value)
    assert "task 'a' uses {{topic}} but has no input named 'topic'" in message
    assert "Read.new('topic')" in message


def test_template_variable_with_spaces_needs_an_input_too() -> None:
    with pytest.raises(ConfigurationError, match=r"uses \{\{topic\}\}"):
        _load([_task("a", content="About {{ topic }}.")], [{"source": "a", "target": "_end"}])


def test_template_variable_nobody_provides_is_refused_by_the_builder_step() -> None:
    builder = WorkflowBuilder(topic="t")

    with pytest.raises(ConfigurationError) as caught:
        builder.generative_step("About {{topic}} and {{mood}}.", id="a")

    message = str(caught.value)
    assert "step 'a' uses {{mood}}" in message
    assert "pass mood=... to WorkflowBuilder" in message


def test_required_read_nobody_provides_is_refused_on_load() -> None:
    task = _task("a", content="{{notes}}", inputs=[_read("notes")])

    with pytest.raises(ConfigurationError) as caught:
        _load([task], [{"source": "a", "target": "_end"}])

    message = str(caught.value)
    assert "task 'a' reads 'notes' (read)" in message
    assert "add 'notes' to the memory" in message
    assert "required=False" in message


def test_required_read_written_only_by_a_later_task_is_refused() -> None:
    first = _task("a", content="{{x}}", inputs=[_read("x")])
    second = _task("b", writes=["x"])

    with pytest.raises(ConfigurationError, match="task 'a' reads 'x'"):
        _load([first, second], [{"source": "a", "target": "b"}, {"source": "b", "target": "_end"}])


def test_required_read_written_earlier_in_a_loop_is_accepted() -> None:
    first = _task("a", content="{{x}}", inputs=[_read("x", required=False)], writes=["y"])
    second = _task("b", content="{{y}}", inputs=[_read("y")], writes=["x"])
    loop = {"source": "b", "target": "_end", "condition": _condition("done", key="y")}

    workflow = _load([first, second], [{"source": "a", "target": "b"}, loop])

    assert len(workflow.steps) == 2


def test_optional_read_nobody_provides_is_accepted() -> None:
    task = _task("a", content="{{notes}}", inputs=[_read("notes", required=False)])

    workflow = _load([task], [{"source": "a", "target": "_end"}])

    assert workflow.tasks[0].inputs[0].required is False


@pytest.mark.parametrize("kind", ["size", "string"])
def test_reads_that_need_no_memory_are_accepted(kind: str) -> None:
    task = _task("a", content="{{n}}", inputs=[_read("n", kind=kind)])

    _load([task], [{"source": "a", "target": "_end"}])


def test_builder_refuses_a_required_read_written_only_later() -> None:
    builder = WorkflowBuilder()
    builder.generative_step("{{later}}", id="a", inputs=[Read.new("later")])
    builder.generative_step("Go.", id="b", outputs=[Write.new("later")])
    builder.flow([Edge(source="a", target="b")])

    with pytest.raises(ConfigurationError, match="task 'a' reads 'later'"):
        builder.build()


def test_condition_reading_a_key_nothing_writes_is_refused() -> None:
    edge = {"source": "a", "target": "_end", "condition": _condition("y", key="ghost")}

    with pytest.raises(ConfigurationError) as caught:
        _load([_task("a", writes=["x"])], [edge])

    assert "condition on edge 'a' -> '_end' reads 'ghost'" in str(caught.value)


# --- reaching the end ---------------------------------------------------------------------


def test_task_without_a_path_to_end_is_refused_on_load() -> None:
    tasks = [_task("a", writes=["x"]), _task("b"), _task("c")]
    steps = [{"source": "a", "target": "_end"}, {"source": "b", "target": "c"}]

    with pytest.raises(ConfigurationError) as caught:
        _load(tasks, steps)

    message = str(caught.value)
    assert "task 'b' has no path to an end task" in message
    assert "add an edge from it" in message


def test_loop_without_an_exit_is_refused_by_the_builder() -> None:
    builder = WorkflowBuilder()
    builder.generative_step("Go.", id="a")
    builder.generative_step("Again.", id="b")
    builder.flow([Edge(source="a", target="b"), Edge(source="b", target="a")])

    with pytest.raises(ConfigurationError, match="no path to an end task"):
        builder.build()


def test_two_edges_from_one_task_are_refused() -> None:
    steps = [{"source": "a", "target": "_end"}, {"source": "a", "target": "b"}]

    with pytest.raises(ConfigurationError) as caught:
        _load([_task("a"), _task("b")], [*steps, {"source": "b", "target": "_end"}])

    message = str(caught.value)
    assert "task 'a' has 2 outgoing edges" in message
    assert "condition" in message


# --- conditions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression", ["GreaterThan", "LessThan", "GreaterThanOrEqual", "LessThanOrEqual"]
)
def test_numeric_condition_with_a_non_numeric_expected_is_refused(expression: str) -> None:
    edge = {"source": "a", "target": "_end", "condition": _condition("many", expression)}

    with pytest.raises(ConfigurationError) as caught:
        _load([_task("a", writes=["x"])], [edge])

    message = str(caught.value)
    assert f"edge 'a' -> '_end': condition {expression} compares numbers" in message
    assert "'many'" in message
    assert "Equal/Contains" in message


def test_numeric_condition_with_a_number_is_accepted() -> None:
    edge = {"source": "a", "target": "_end", "condition": _condition(" 2.5 ", "GreaterThan")}

    _load([_task("a", writes=["x"])], [edge])


def test_builder_refuses_a_numeric_condition_on_text_at_build() -> None:
    builder = WorkflowBuilder()
    builder.generative_step("Go.", id="a", outputs=[Write.new("x")])
    condition = ConditionBuilder.build("lots", Expression.LESS_THAN, Size.new("x"), "a")
    builder.flow([Edge(source="a", target="_end", condition=condition)])

    with pytest.raises(ConfigurationError, match="compares numbers but expected is 'lots'"):
        builder.build()


# --- vocabulary and ids -------------------------------------------------------------------


def test_unknown_operator_is_refused_naming_the_task_and_the_choices() -> None:
    with pytest.raises(ConfigurationError) as caught:
        _load([_task("a", operator="dream")], [{"source": "a", "target": "_end"}])

    message = str(caught.value)
    assert "tasks.0.operator (task 'a')" in message
    assert "'generation'" in message


def test_unknown_input_type_is_refused_naming_the_task() -> None:
    task = _task("a", content="{{x}}", inputs=[_read("x", kind="telepathy")])

    with pytest.raises(ConfigurationError) as caught:
        _load([task], [{"source": "a", "target": "_end"}], memory={"x": "1"})

    message = str(caught.value)
    assert "tasks.0.inputs.0.value.type (task 'a')" in message
    assert "'get_all'" in message


def test_unknown_input_type_is_refused_by_the_constructor_too() -> None:
    task = _task("a", content="{{x}}", inputs=[_read("x", kind="telepathy")])

    with pytest.raises(ConfigurationError, match=r"tasks.0.inputs.0.value.type \(task 'a'\)"):
        Workflow(tasks=[task, END], steps=[{"source": "a", "target": "_end"}])


def test_unknown_expression_is_refused_naming_the_edge() -> None:
    edge = {"source": "a", "target": "_end", "condition": _condition("y", "RoughlyEqual")}

    with pytest.raises(ConfigurationError, match=r"steps.0.condition.expression \(edge 'a'"):
        _load([_task("a", writes=["x"])], [edge])


def test_builder_refuses_an_unknown_operator_naming_the_step() -> None:
    builder = WorkflowBuilder()

    with pytest.raises(ConfigurationError, match=r"step 'a'.*operator"):
        builder.generative_step("Go.", id="a", operator="dream")  # type: ignore[arg-type]


def test_duplicate_task_ids_are_refused_on_load() -> None:
    with pytest.raises(ConfigurationError, match="two tasks have the id 'a'; give each a unique"):
        _load([_task("a"), _task("a")], [{"source": "a", "target": "_end"}])


def test_duplicate_step_ids_are_refused_by_the_builder() -> None:
    builder = WorkflowBuilder()
    builder.generative_step("Go.", id="a")

    with pytest.raises(ConfigurationError, match="'a' exists already"):
        builder.generative_step("Again.", id="a")


def test_condition_input_built_from_an_input_keeps_its_read() -> None:
    condition = ConditionBuilder.build(3, Expression.GREATER_THAN, Size.new("answers"), "a")

    assert condition.expected == "3"
    assert condition.input == InputValue(type=InputValueType.SIZE, key="answers")
    assert isinstance(Read.new("k"), Input)
