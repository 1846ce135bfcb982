"""Documents as Dria's own templates produce them load (issue #12, items 26 and 27).

The fixtures in `dria_documents/` are modelled on Dria's factory templates as Dria's SDK
sends them (`workflow.model_dump()`, nulls included): `get_dependencies.json` has its output
schema as a JSON string (what Dria's `SchemaParser` makes for OpenAI models) and
`random_vars.json` routes a failed condition to `target_if_not: "A"`, which names no task.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from fanflow import ConfigurationError, Workflow
from fanflow.steps import ConditionBuilder, Edge, Expression, Read, WorkflowBuilder, Write

DOCUMENTS = Path(__file__).parent / "dria_documents"


def _document(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads((DOCUMENTS / name).read_bytes())
    return loaded


# -- item 26: `schema` as a JSON string ----------------------------------------------------


def test_a_schema_sent_as_a_json_string_loads_as_that_schema() -> None:
    text = (DOCUMENTS / "get_dependencies.json").read_text(encoding="utf-8")
    workflow = Workflow.model_validate_json(text)
    schema = workflow.task("get_dependencies").output_schema
    assert schema is not None
    assert schema["required"] == ["dependencies"]
    assert schema["$defs"]["Dependency"]["properties"]["independent"] == {
        "title": "Whether the column is independent",
        "type": "boolean",
    }


def test_a_schema_string_loads_from_python_data_and_the_constructor_too() -> None:
    document = _document("get_dependencies.json")
    expected = orjson.loads(document["tasks"][0]["schema"])
    assert Workflow.model_validate(document).tasks[0].output_schema == expected
    assert Workflow(**document).tasks[0].output_schema == expected


def test_a_loaded_schema_string_dumps_as_an_object_and_loads_back_equal() -> None:
    workflow = Workflow.model_validate(_document("get_dependencies.json"))
    dumped = orjson.loads(workflow.model_dump_json())
    assert isinstance(dumped["tasks"][0]["schema"], dict)
    assert Workflow.model_validate(dumped) == workflow


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        ("{not json", "not valid JSON"),
        ('["a list"]', "a JSON list"),
        ("", "not valid JSON"),
        # Dria's form for Ollama models: a base64-encoded regular expression.
        ("eyJ0eXBlIjogIm9iamVjdCJ9XHMq", "not valid JSON"),
        # Dria's form for Gemini models: JSON, but no JSON schema.
        ('{"type": "OBJECT", "properties": {"x": {"type": "STRING"}}}', "no valid JSON schema"),
    ],
)
def test_a_schema_string_that_is_no_json_object_is_an_error_naming_the_task(
    schema: str, problem: str
) -> None:
    document = _document("get_dependencies.json")
    document["tasks"][0]["schema"] = schema
    with pytest.raises(ConfigurationError, match="get_dependencies") as caught:
        Workflow.model_validate(document)
    assert problem in str(caught.value)
    assert "schema" in str(caught.value)


# -- item 27: a branch that names no task ----------------------------------------------------


def _unseen(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with a shape no other test loaded: a shape is warned about only once."""
    document["steps"][1]["condition"]["expected"] = f"Yes {uuid.uuid4()}"
    return document


def test_a_dria_document_whose_target_if_not_names_no_task_loads_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    text = orjson.dumps(_unseen(_document("random_vars.json")))
    with caplog.at_level(logging.WARNING, logger="fanflow"):
        workflow = Workflow.model_validate_json(text)
    condition = workflow.steps[1].condition
    assert condition is not None and condition.target_if_not == "A"
    [record] = [r for r in caplog.records if r.name.startswith("fanflow")]
    assert record.levelno == logging.WARNING
    assert "'A'" in record.getMessage()
    assert "validate_random_vars" in record.getMessage()
    assert "ends the workflow" in record.getMessage()


def test_the_same_document_loaded_again_is_not_warned_about_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    document = _unseen(_document("random_vars.json"))
    with caplog.at_level(logging.WARNING, logger="fanflow"):
        for _ in range(3):
            Workflow.model_validate(document)
    assert len([r for r in caplog.records if r.name.startswith("fanflow")]) == 1


def test_a_dria_document_whose_fallback_names_no_task_loads(
    caplog: pytest.LogCaptureFixture,
) -> None:
    document = _unseen(_document("random_vars.json"))
    document["steps"][0]["fallback"] = "0"
    with caplog.at_level(logging.WARNING, logger="fanflow"):
        workflow = Workflow.model_validate(document)
    assert workflow.steps[0].fallback == "0"
    assert any("'0'" in r.getMessage() for r in caplog.records)


def test_a_loaded_dangling_branch_dumps_and_loads_back_equal() -> None:
    workflow = Workflow.model_validate(_document("random_vars.json"))
    assert Workflow.model_validate_json(workflow.model_dump_json()) == workflow


@pytest.mark.parametrize("role", ["source", "target"])
def test_an_edge_source_or_target_naming_no_task_is_still_refused_at_load(role: str) -> None:
    document = _document("random_vars.json")
    document["steps"][0][role] = "nowhere"
    with pytest.raises(ConfigurationError, match="'nowhere' names no task"):
        Workflow.model_validate(document)


def test_the_workflow_constructor_still_refuses_a_branch_naming_no_task() -> None:
    with pytest.raises(ConfigurationError, match="target_if_not 'A' names no task"):
        Workflow(**_document("random_vars.json"))


def test_workflow_builder_still_refuses_a_branch_naming_no_task() -> None:
    builder = WorkflowBuilder(simulation_description="a cafe")
    builder.generative_step(
        "vars of {{simulation_description}}", id="gen", outputs=[Write.new("v")]
    )
    otherwise = ConditionBuilder.build("Yes", Expression.EQUAL, Read.new("v"), "A")
    with pytest.raises(ConfigurationError, match="'A'"):
        builder.flow([Edge(source="gen", target="_end", condition=otherwise)])
    with pytest.raises(ConfigurationError, match="'0'"):
        builder.flow([Edge(source="gen", target="_end", fallback="0")])
