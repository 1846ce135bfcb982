"""Workflow documents that would produce nothing: refused at load, or failed at run time."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from fanflow import (
    ConfigurationError,
    ExecutionError,
    MockAdapter,
    PipelineBuilder,
    PipelineConfig,
    StepTemplate,
    TaskStatus,
    Workflow,
)
from fanflow.engine import run_workflow


def _document(**changes: Any) -> dict[str, Any]:
    document = Workflow.from_prompt("say {{topic}}", topic="physics").model_dump(mode="json")
    document.update(changes)
    return {key: value for key, value in document.items() if value is not None}


def test_the_base_document_loads() -> None:
    Workflow.model_validate(_document())


@pytest.mark.parametrize("load", ["dict", "json"])
def test_a_document_without_return_value_is_refused_at_load(load: str) -> None:
    document = _document(return_value=None)

    with pytest.raises(ConfigurationError, match="no return_value"):
        if load == "dict":
            Workflow.model_validate(document)
        else:
            Workflow.model_validate_json(orjson.dumps(document))


@pytest.mark.parametrize("load", ["dict", "json"])
def test_a_document_with_no_tasks_is_refused_at_load(load: str) -> None:
    document = {"tasks": [], "steps": []}

    with pytest.raises(ConfigurationError, match="no tasks"):
        if load == "dict":
            Workflow.model_validate(document)
        else:
            Workflow.model_validate_json(orjson.dumps(document))


def test_a_document_with_only_an_end_task_is_refused_at_load() -> None:
    document = {"tasks": [{"id": "_end", "operator": "end"}], "return_value": _RETURN_MISSING}

    with pytest.raises(ConfigurationError, match="no tasks"):
        Workflow.model_validate(document)


_RETURN_MISSING = {"input": {"type": "read", "key": "nowhere"}}


async def test_a_return_value_reading_a_key_nothing_wrote_fails_naming_the_key() -> None:
    workflow = Workflow.model_validate(_document(return_value=_RETURN_MISSING))

    with pytest.raises(ExecutionError, match="'nowhere'"):
        await run_workflow(workflow, MockAdapter(lambda request: "an answer"))


async def test_in_a_pipeline_that_task_fails_and_the_run_goes_on() -> None:
    class Broken(StepTemplate):
        def create_workflow(self, topic: str) -> Workflow:
            return Workflow.model_validate(_document(return_value=_RETURN_MISSING))

    config = PipelineConfig(progress=False, store=False, preflight=False)
    builder = PipelineBuilder(config, MockAdapter(lambda request: "an answer"))
    builder.input([{"topic": "a"}, {"topic": "b"}]) << Broken()
    result = await builder.build().execute()

    assert [f.status for f in result.failures] == [TaskStatus.FAILED] * 2
    assert all("'nowhere'" in (f.error or "") for f in result.failures)
