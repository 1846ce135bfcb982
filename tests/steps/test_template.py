"""`StepTemplate`: naming, the fluent flow methods, per-step settings and its signature."""

from __future__ import annotations

from typing import Any

import pytest

from fanflow import ConfigurationError
from fanflow.callbacks import Aggregate, Broadcast, Each, TemplateCallback
from fanflow.steps import StepOutput, StepTemplate, TaskInput, Workflow


class Answer(StepTemplate):
    def create_workflow(self, question: str, style: str = "short") -> Workflow:
        raise NotImplementedError


class GenerateQAPairs(StepTemplate):
    def create_workflow(self, *, topic: str) -> Workflow:
        raise NotImplementedError


class AnythingGoes(StepTemplate):
    def create_workflow(self, topic: str, *extra: Any, **inputs: Any) -> Workflow:
        raise NotImplementedError


class Merge(StepTemplate):
    def create_workflow(self, **inputs: Any) -> Workflow:
        raise NotImplementedError

    def callback(self, step: StepOutput) -> TaskInput:
        return TaskInput(count=len(step.output))


# -- names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "name"),
    [
        (Answer(), "answer"),
        (AnythingGoes(), "anything_goes"),
        (GenerateQAPairs(), "generate_qa_pairs"),
    ],
)
def test_the_default_name_is_the_class_name_in_snake_case(
    template: StepTemplate, name: str
) -> None:
    assert template.name == name


def test_an_explicit_name_wins() -> None:
    assert Answer(name="final_answer").name == "final_answer"


def test_a_new_template_flows_each_result_on_with_no_settings() -> None:
    template = Answer()

    assert isinstance(template.flow, Each)
    assert template.models is None
    assert template.workflow_params == {}
    assert repr(template) == "Answer(name='answer', flow=Each(key=None, target=None))"


def test_create_workflow_must_be_implemented() -> None:
    with pytest.raises(NotImplementedError, match=r"StepTemplate must implement create_workflow"):
        StepTemplate().create_workflow(topic="x")


# -- flow methods -------------------------------------------------------------------------


def test_scatter_sets_the_flow_and_returns_the_template() -> None:
    template = Answer()

    assert template.scatter() is template
    assert repr(template.flow) == "Scatter(key=None, target=None)"
    assert repr(template.scatter("subtopic").flow) == "Scatter(key='subtopic', target='subtopic')"


def test_broadcast_sets_the_flow_with_n() -> None:
    template = Answer()

    assert template.broadcast(3) is template
    assert isinstance(template.flow, Broadcast)
    assert template.flow.n == 3


@pytest.mark.parametrize("n", [0, -2])
def test_broadcast_needs_n_of_at_least_one_and_names_the_step(n: int) -> None:
    template = Answer()

    with pytest.raises(
        ConfigurationError, match=rf"step 'answer': Broadcast\(n\) needs n >= 1, got {n}"
    ):
        template.broadcast(n)
    assert isinstance(template.flow, Each)


def test_aggregate_sets_the_flow_with_key_and_grouping() -> None:
    template = Answer()

    assert template.aggregate() is template
    assert isinstance(template.flow, Aggregate)
    assert (template.flow.key, template.flow.group_by) == (None, "root")
    flow = template.aggregate("answers", by="all").flow
    assert (flow.key, flow.group_by) == ("answers", "all")


def test_custom_sets_a_flow_over_the_whole_step() -> None:
    template = Merge()

    assert template.custom() is template
    assert isinstance(template.flow, TemplateCallback)
    assert template.flow.group_by == "all"
    assert template.callback(StepOutput("merge", [])) == TaskInput(count=0)


def test_custom_without_a_callback_method_is_a_configuration_error() -> None:
    template = Answer()

    with pytest.raises(ConfigurationError, match=r"custom\(\) needs Answer to define callback"):
        template.custom()
    assert isinstance(template.flow, Each)


def test_the_default_callback_says_what_to_implement() -> None:
    with pytest.raises(NotImplementedError, match=r"needs a callback\(self, step\) method"):
        Answer().callback(StepOutput("answer", []))


def test_the_last_flow_method_wins() -> None:
    assert repr(Answer().scatter("x").broadcast(2).flow) == "Broadcast(key=None, n=2, target=None)"


# -- settings -----------------------------------------------------------------------------


def test_set_models_keeps_a_list_copy_of_the_models() -> None:
    models = ("model-a", "model-b")
    template = Answer()

    assert template.set_models(models) is template
    assert template.models == ["model-a", "model-b"]


def test_set_models_with_no_models_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="step 'answer': set_models needs at least one"):
        Answer().set_models([])


def test_set_workflow_params_keeps_only_the_values_given() -> None:
    template = Answer()

    assert template.set_workflow_params(max_tokens=256, max_time=30.0) is template
    assert template.workflow_params == {"max_tokens": 256, "max_time": 30.0}


def test_set_workflow_params_with_all_values() -> None:
    template = Answer().set_workflow_params(max_tokens=1, max_steps=2, max_time=3.0)

    assert template.workflow_params == {"max_tokens": 1, "max_steps": 2, "max_time": 3.0}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"max_steps": 0}, "max_steps"),
        ({"max_time": -5}, "max_time"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_time": float("nan")}, "max_time"),
    ],
)
def test_set_workflow_params_refuses_invalid_values_where_they_are_set(
    params: dict[str, float], field: str
) -> None:
    template = Answer()

    with pytest.raises(ConfigurationError, match=f"step 'answer': set_workflow_params.*{field}"):
        template.set_workflow_params(**params)  # type: ignore[arg-type]
    assert template.workflow_params == {}


# -- signature ----------------------------------------------------------------------------


def test_parameters_map_names_to_whether_they_are_required() -> None:
    assert Answer().parameters() == {"question": True, "style": False}


def test_parameters_include_keyword_only_ones() -> None:
    assert GenerateQAPairs().parameters() == {"topic": True}


def test_parameters_leave_out_star_args_and_star_star_kwargs() -> None:
    assert AnythingGoes().parameters() == {"topic": True}


def test_accepts_any_is_true_only_with_star_star_kwargs() -> None:
    assert AnythingGoes().accepts_any() is True
    assert Merge().accepts_any() is True
    assert Answer().accepts_any() is False
    assert GenerateQAPairs().accepts_any() is False
