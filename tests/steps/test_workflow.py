"""The workflow document: Dria JSON in, the same JSON out, deterministically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from fanflow import ConfigurationError
from fanflow.steps import (
    Edge,
    Expression,
    Input,
    InputValue,
    InputValueType,
    Message,
    Operator,
    Output,
    OutputType,
    ReturnValue,
    Task,
    Workflow,
)

DRIA_JSON = (Path(__file__).parent / "dria_workflow.json").read_text(encoding="utf-8")


def _dria() -> dict[str, Any]:
    document: dict[str, Any] = orjson.loads(DRIA_JSON)
    return document


def test_dria_document_loads_with_every_field() -> None:
    workflow = Workflow.model_validate_json(DRIA_JSON)

    assert workflow.config.max_steps == 10
    assert workflow.config.max_time == 60
    assert workflow.config.max_tokens == 512
    assert workflow.config.tools == ["ALL"]
    assert workflow.external_memory == {"seeds": ["a", "b"], "topic": "quantum computing"}
    assert [task.id for task in workflow.tasks] == ["question", "answer", "_end"]
    assert workflow.tasks[1].inputs[0].value.type == InputValueType.GET_ALL
    assert workflow.tasks[1].outputs[0].type == OutputType.PUSH
    assert workflow.tasks[2].operator == Operator.END
    condition = workflow.steps[1].condition
    assert condition is not None
    assert condition.expression == Expression.GREATER_THAN_OR_EQUAL
    assert condition.target_if_not == "question"
    assert workflow.steps[0].fallback == "_end"
    assert workflow.return_value is not None
    assert workflow.return_value.to_json is True


def test_dumped_dria_document_loads_back_equal() -> None:
    workflow = Workflow.model_validate_json(DRIA_JSON)

    assert Workflow.model_validate_json(workflow.model_dump_json()) == workflow


def test_dump_is_the_dria_document_it_loaded() -> None:
    workflow = Workflow.model_validate_json(DRIA_JSON)

    assert orjson.loads(workflow.model_dump_json()) == _dria()


def test_dumping_twice_gives_identical_bytes() -> None:
    workflow = Workflow.model_validate_json(DRIA_JSON)

    assert workflow.model_dump_json() == workflow.model_dump_json()
    assert Workflow.model_validate_json(workflow.model_dump_json()).model_dump_json() == (
        workflow.model_dump_json()
    )


def test_memory_key_order_does_not_change_the_bytes() -> None:
    document = _dria()
    reordered = dict(document, external_memory={"topic": "quantum computing", "seeds": ["a", "b"]})
    forward = dict(document, external_memory={"seeds": ["a", "b"], "topic": "quantum computing"})

    first, second = Workflow.model_validate(reordered), Workflow.model_validate(forward)

    assert first.model_dump_json() == second.model_dump_json()
    assert first.canonical_json() == second.canonical_json()


def test_canonical_json_is_stable_sorted_and_without_nulls() -> None:
    workflow = Workflow.model_validate_json(DRIA_JSON)
    reloaded = Workflow.model_validate_json(workflow.model_dump_json())

    canonical = workflow.canonical_json()

    assert canonical == workflow.canonical_json() == reloaded.canonical_json()
    assert canonical == orjson.dumps(orjson.loads(canonical), option=orjson.OPT_SORT_KEYS)
    assert b"null" not in canonical


def test_canonical_json_ignores_key_order_inside_a_schema() -> None:
    def with_schema(schema: dict[str, Any]) -> Workflow:
        document = _dria()
        document["tasks"][0]["schema"] = schema
        return Workflow.model_validate(document)

    one = with_schema({"type": "object", "properties": {"q": {"type": "string"}}})
    other = with_schema({"properties": {"q": {"type": "string"}}, "type": "object"})

    assert one.canonical_json() == other.canonical_json()


def test_canonical_json_differs_when_the_workflow_differs() -> None:
    document = _dria()
    document["config"]["max_steps"] = 11

    assert (
        Workflow.model_validate(document).canonical_json()
        != Workflow.model_validate_json(DRIA_JSON).canonical_json()
    )


def test_output_schema_is_written_under_the_dria_name_schema() -> None:
    document = _dria()
    document["tasks"][0]["schema"] = {"type": "string"}

    workflow = Workflow.model_validate(document)

    assert workflow.tasks[0].output_schema == {"type": "string"}
    dumped = orjson.loads(workflow.model_dump_json())
    assert dumped["tasks"][0]["schema"] == {"type": "string"}
    assert "output_schema" not in dumped["tasks"][0]
    assert b'"schema"' in workflow.canonical_json()


def test_constructor_and_model_validate_give_the_same_workflow() -> None:
    document = _dria()

    assert Workflow(**document) == Workflow.model_validate(document)
    assert Workflow.model_validate(document) == Workflow.model_validate_json(DRIA_JSON)


def test_workflow_can_be_built_from_models() -> None:
    task = Task(
        id="greet",
        operator=Operator.GENERATION,
        messages=[Message(role="user", content="Hi {{name}}")],
        inputs=[Input(name="name", value=InputValue(type=InputValueType.READ, key="name"))],
        outputs=[Output(type=OutputType.WRITE, key="greeting")],
    )
    end = Task(id="_end", operator=Operator.END)

    workflow = Workflow(
        external_memory={"name": "Ada"},
        tasks=[task, end],
        steps=[Edge(source="greet", target="_end")],
        return_value=ReturnValue(input=InputValue(type=InputValueType.READ, key="greeting")),
    )

    assert workflow.task("greet") is workflow.tasks[0]
    assert Workflow.model_validate_json(workflow.model_dump_json()) == workflow


def test_task_lookup_names_the_known_tasks_when_missing() -> None:
    workflow = Workflow.model_validate_json(DRIA_JSON)

    with pytest.raises(ConfigurationError, match=r"no task 'nope'.*question, answer, _end"):
        workflow.task("nope")


def test_defaults_fill_a_minimal_document() -> None:
    # Loading `{}` is refused (it produces nothing: tests/engine/workflow/test_return_value);
    # the constructor still gives the defaults.
    workflow = Workflow(**{})

    assert workflow.config.max_steps == 50
    assert workflow.config.tools == ["ALL"]
    assert workflow.tasks == []
    assert workflow.model_dump_json() == Workflow().model_dump_json()


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"config": {"max_steps": 0}}, "config.max_steps"),
        ({"config": {"max_time": -1}}, "config.max_time"),
        ({"config": {"max_tokens": 0}}, "config.max_tokens"),
        ({"external_memory": {"n": 3}}, "external_memory.n"),
        ({"tasks": "not a list"}, "tasks"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_structural_errors_are_configuration_errors_naming_the_field(
    document: dict[str, Any], field: str
) -> None:
    with pytest.raises(ConfigurationError, match=field) as caught:
        Workflow.model_validate(document)

    assert not isinstance(caught.value, ValidationError)
    assert "Fix" in str(caught.value)


def test_malformed_json_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        Workflow.model_validate_json("{not json")


def test_a_structural_error_inside_a_task_names_the_task_id() -> None:
    document = _dria()
    document["tasks"][1]["operator"] = "telepathy"

    where = r"tasks.1.operator \(task 'answer'\)"
    with pytest.raises(ConfigurationError, match=where) as caught:
        Workflow.model_validate(document)

    assert "generation" in str(caught.value)  # the allowed values are listed


def test_an_error_in_an_edge_names_the_edge() -> None:
    document = _dria()
    document["steps"][0]["fallback"] = 7

    where = r"steps.0.fallback \(edge 'question' -> 'answer'\)"
    with pytest.raises(ConfigurationError, match=where):
        Workflow.model_validate_json(orjson.dumps(document))
