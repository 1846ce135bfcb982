"""Documents from Dria's own templates run as Dria runs them (issue #12, items 26 and 27).

Dria's executor ends the workflow when a branch (`target_if_not`, `fallback`) names no
task; its result is then what the return value reads from memory. The documents are the
fixtures in tests/steps/dria_documents/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from fanflow import MockAdapter, ProviderError, Workflow, run_workflow

DOCUMENTS = Path(__file__).parents[2] / "steps" / "dria_documents"
RANDOM_VARS = '[{"description": "weather", "values": ["rain", "sun"]}]'


def _document(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads((DOCUMENTS / name).read_bytes())
    return loaded


async def test_a_false_condition_whose_target_if_not_names_no_task_ends_the_workflow() -> None:
    workflow = Workflow.model_validate_json((DOCUMENTS / "random_vars.json").read_bytes())
    adapter = MockAdapter([RANDOM_VARS, "No"])

    result = await run_workflow(workflow, adapter)

    assert result.path == ("random_var_gen", "validate_random_vars")
    assert result.result == RANDOM_VARS
    assert result.memory["is_valid"] == "No"
    assert adapter.calls == 2


async def test_a_true_condition_still_goes_to_its_target() -> None:
    document = _document("random_vars.json")
    document["steps"][1]["condition"]["expected"] = RANDOM_VARS
    adapter = MockAdapter([RANDOM_VARS, "Yes"])

    result = await run_workflow(Workflow.model_validate(document), adapter)

    assert result.path == ("random_var_gen", "validate_random_vars")
    assert result.result == RANDOM_VARS


async def test_a_failed_task_whose_fallback_names_no_task_ends_the_workflow() -> None:
    document = _document("random_vars.json")
    document["steps"][1]["fallback"] = "0"
    failure = ProviderError("the validator's endpoint failed", status_code=400)
    adapter = MockAdapter([RANDOM_VARS, failure])

    result = await run_workflow(Workflow.model_validate(document), adapter)

    assert result.path == ("random_var_gen", "validate_random_vars")
    assert result.result == RANDOM_VARS
    assert "is_valid" not in result.memory


async def test_a_schema_sent_as_a_json_string_is_the_request_schema_and_checks_the_answer() -> None:
    document = _document("get_dependencies.json")
    schema = orjson.loads(document["tasks"][0]["schema"])
    answer = {"dependencies": [{"column": "age", "dependencies": [], "independent": True}]}
    adapter = MockAdapter([orjson.dumps(answer).decode()])

    result = await run_workflow(Workflow.model_validate(document), adapter)

    assert adapter.requests[0].json_schema == schema
    assert result.value == answer


@pytest.mark.parametrize("answer", ['{"dependencies": "none"}'])
async def test_an_answer_off_a_string_schema_is_repaired_once(answer: str) -> None:
    document = _document("get_dependencies.json")
    fixed = '{"dependencies": []}'
    adapter = MockAdapter([answer, fixed])

    result = await run_workflow(Workflow.model_validate(document), adapter)

    assert adapter.calls == 2
    assert result.value == {"dependencies": []}
