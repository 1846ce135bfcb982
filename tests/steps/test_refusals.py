"""Settings that can be checked without a model are refused where they are written."""

from __future__ import annotations

import math
from typing import Any

import pytest

from fanflow import ConfigurationError, Prompt, Workflow


def _prompt() -> Prompt:
    return Prompt("answer", "answer {{question}}")


def test_set_models_refuses_a_bare_string_instead_of_splitting_it() -> None:
    step = _prompt()

    with pytest.raises(ConfigurationError, match=r"step 'answer'.*\['mock-model'\]"):
        step.set_models("mock-model")
    assert step.models is None


@pytest.mark.parametrize("models", [["ok", 3], ["ok", ""], [None]])
def test_set_models_refuses_names_that_are_not_text(models: list[Any]) -> None:
    with pytest.raises(ConfigurationError, match="step 'answer': set_models"):
        _prompt().set_models(models)


def test_set_models_still_takes_a_tuple() -> None:
    assert _prompt().set_models(("a", "b")).models == ["a", "b"]


@pytest.mark.parametrize(
    "params",
    [
        {"max_tokens": -5},
        {"max_time": math.nan},
        {"max_time": math.inf},
        {"max_steps": 0},
        {"max_steps": 10**30},
        {"max_tokens": 10**30},
        {"max_steps": 2.5},
    ],
)
def test_set_workflow_params_refuses_bad_limits(params: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="step 'answer': set_workflow_params"):
        _prompt().set_workflow_params(**params)


@pytest.mark.parametrize("n", [2.5, math.nan, math.inf, 0, -1, "3", True])
def test_broadcast_refuses_a_count_that_is_not_a_positive_whole_number(n: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"step 'answer'.*Broadcast"):
        _prompt().broadcast(n)


def test_broadcast_takes_a_whole_number() -> None:
    assert "n=3" in repr(_prompt().broadcast(3).flow)


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"max_steps": 10**30}, "config.max_steps"),
        ({"max_tokens": 10**30}, "config.max_tokens"),
        ({"max_time": 10**30}, "config.max_time"),
    ],
)
def test_a_workflow_document_with_a_huge_limit_is_refused_naming_the_field(
    config: dict[str, Any], field: str
) -> None:
    document = Workflow.from_prompt("hi").model_dump(mode="json")
    document["config"].update(config)

    with pytest.raises(ConfigurationError, match=field):
        Workflow.model_validate(document)
