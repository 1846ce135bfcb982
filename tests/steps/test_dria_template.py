"""Dria's StepTemplate and TaskInput idioms work in fanflow (issue #12, item 28).

In Dria's SDK (`dria/pipelines/builder.py`, `dria/models/models.py`) a template's
constructor keyword arguments become attributes of `self.params` (a `SimpleNamespace`),
and a `TaskInput`'s fields are its attributes (`ti.question`).
"""

from __future__ import annotations

import copy
import pickle
from types import SimpleNamespace
from typing import Any

import pytest

from fanflow import StepTemplate, TaskInput, Workflow


class Samples(StepTemplate):
    def create_workflow(self, topic: str) -> Workflow:
        return Workflow.from_prompt("{{topic}} x{{n}}", topic=topic, n=str(self.params.n))


# -- StepTemplate(**params) ---------------------------------------------------------------


def test_constructor_keyword_arguments_are_the_templates_params() -> None:
    template = Samples(n=3, style="short")
    assert template.params.n == 3
    assert template.params.style == "short"
    assert vars(template.params) == {"n": 3, "style": "short"}


def test_params_is_a_namespace_as_in_dria() -> None:
    assert isinstance(Samples(n=1).params, SimpleNamespace)
    assert vars(Samples().params) == {}


def test_name_stays_the_step_name_and_is_no_param() -> None:
    template = Samples(name="samples_x3", n=3)
    assert template.name == "samples_x3"
    assert vars(template.params) == {"n": 3}


def test_each_template_has_its_own_params() -> None:
    first, second = Samples(n=1), Samples(n=2)
    first.params.extra = "only here"
    assert second.params.n == 2
    assert not hasattr(second.params, "extra")


def test_create_workflow_reads_the_params() -> None:
    workflow = Samples(n=4).create_workflow(topic="tea")
    assert "x{{n}}" in workflow.tasks[0].messages[0].content
    assert workflow.external_memory == {"n": "4", "topic": "tea"}


# -- TaskInput attribute access -------------------------------------------------------------


def test_task_input_fields_are_attributes() -> None:
    item = TaskInput(question="Why is the sky blue?", answers=["a", "b"])
    assert item.question == "Why is the sky blue?"
    assert item.answers == ["a", "b"]
    assert item["question"] == item.question


def test_a_task_input_made_from_a_mapping_has_its_keys_as_attributes() -> None:
    item = TaskInput({"topic": "tea"}, n=2)
    assert (item.topic, item.n) == ("tea", 2)


def test_a_missing_field_is_an_attribute_error_naming_the_fields() -> None:
    item = TaskInput(question="q", context="c")
    with pytest.raises(AttributeError, match="'answer'") as caught:
        _ = item.answer
    assert "context, question" in str(caught.value)
    assert not hasattr(item, "answer")
    assert getattr(item, "answer", None) is None


def test_mapping_methods_win_over_fields_of_the_same_name() -> None:
    item = TaskInput(keys="k", topic="t")
    assert callable(item.keys)
    assert item["keys"] == "k"


def test_a_task_input_still_copies_and_pickles() -> None:
    item = TaskInput(question="q", tags=["x"])
    for clone in (copy.copy(item), copy.deepcopy(item), pickle.loads(pickle.dumps(item))):
        assert dict(clone) == {"question": "q", "tags": ["x"]}
        assert clone.question == "q"


def _fields(item: TaskInput) -> dict[str, Any]:
    return dict(item)


def test_a_task_input_is_still_a_mapping() -> None:
    assert _fields(TaskInput(a=1)) == {"a": 1}
