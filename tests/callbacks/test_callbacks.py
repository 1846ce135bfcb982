"""Callbacks: how results of one step become inputs of the next."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest

from fanflow import ConfigurationError, ParseError
from fanflow.callbacks import (
    Aggregate,
    Broadcast,
    Callback,
    Each,
    Scatter,
    TemplateCallback,
    as_inputs,
)
from fanflow.steps import StepOutput, StepTemplate, TaskInput, TaskResult, Workflow


def _result(text: str, step: str = "subtopics", lineage: tuple[int, ...] = (0, 2)) -> TaskResult:
    return TaskResult(step=step, lineage=lineage, inputs={}, context={}, result=text)


def _fields(produced: Any) -> list[dict[str, Any]]:
    return [dict(item) for item in as_inputs(produced, "test")]


def _bound(callback: Callback, target: str | None) -> Callback:
    """As the engine does at build time when it resolves the next step's parameter."""
    return callback.with_target(target)


# -- Each ---------------------------------------------------------------------------------


def test_each_binds_the_result_text_to_the_target() -> None:
    produced = _bound(Each(), "question").map(_result("Why?"))

    assert _fields(produced) == [{"question": "Why?"}]


def test_each_without_a_target_gives_an_input_with_no_fields() -> None:
    assert _fields(Each().map(_result("Why?"))) == [{}]


def test_a_key_is_the_initial_target() -> None:
    each = Each(key="question")

    assert each.target == "question"
    assert _fields(each.map(_result("Why?"))) == [{"question": "Why?"}]
    assert repr(each) == "Each(key='question', target='question')"


def test_binding_a_target_copies_the_callback_and_leaves_the_original_alone() -> None:
    mine = Scatter()

    bound = mine.with_target("question")

    assert (bound.target, mine.target) == ("question", None)
    assert type(bound) is Scatter


# -- Scatter ------------------------------------------------------------------------------


def test_scatter_gives_one_input_per_list_element_bound_to_the_target() -> None:
    produced = Scatter(key="subtopic").map(_result('```json\n["optics", "gravity"]\n```'))

    assert _fields(produced) == [{"subtopic": "optics"}, {"subtopic": "gravity"}]


def test_scatter_of_an_empty_list_gives_no_inputs() -> None:
    assert _fields(Scatter(key="subtopic").map(_result("[]"))) == []


def test_scatter_without_a_key_makes_json_objects_rows() -> None:
    scatter = _bound(Scatter(), "subtopic")
    text = '[{"subtopic": "optics", "level": 2}, "gravity"]'

    produced = scatter.map(_result(text))

    assert _fields(produced) == [{"subtopic": "optics", "level": 2}, {"subtopic": "gravity"}]


def test_scatter_with_a_key_binds_json_objects_as_json_text() -> None:
    produced = Scatter(key="item").map(_result('[{"a": 1}]'))

    assert _fields(produced) == [{"item": '{"a":1}'}]


def test_scatter_turns_non_text_elements_into_json_text() -> None:
    produced = Scatter(key="item").map(_result('[1, 2.5, true, null, ["x", "y"]]'))

    assert [f["item"] for f in _fields(produced)] == ["1", "2.5", "true", "null", '["x","y"]']


@pytest.mark.parametrize("text", ['{"subtopic": "optics"}', "no idea", "42"])
def test_scatter_of_a_non_list_names_the_step_and_task(text: str) -> None:
    result = _result(text, step="subtopics", lineage=(3, 1))

    with pytest.raises(ParseError, match=r"step 'subtopics', task 'subtopics/3\.1'") as caught:
        Scatter(key="subtopic").map(result)
    assert caught.value.raw == text


# -- Broadcast ----------------------------------------------------------------------------


def test_broadcast_gives_n_copies_of_the_result() -> None:
    produced = Broadcast(3, key="question").map(_result("Why?"))

    assert _fields(produced) == [{"question": "Why?"}] * 3


def test_broadcast_copies_are_separate_inputs() -> None:
    first, second = as_inputs(Broadcast(2, key="q").map(_result("Why?")), "test")

    assert first is not second


@pytest.mark.parametrize("n", [0, -1])
def test_broadcast_needs_at_least_one_copy(n: int) -> None:
    with pytest.raises(ConfigurationError, match=f"n >= 1, got {n}"):
        Broadcast(n)


# -- Aggregate ----------------------------------------------------------------------------


def test_aggregate_holds_the_list_of_result_texts_under_the_target() -> None:
    results = [_result("a", lineage=(0, 0)), _result("b", lineage=(0, 1))]

    produced = Aggregate(key="answers").reduce(results)

    assert _fields(produced) == [{"answers": ["a", "b"]}]


def test_aggregate_groups_by_root_unless_told_otherwise() -> None:
    assert Aggregate().group_by == "root"
    assert Aggregate(by="all").group_by == "all"


def test_aggregate_rejects_an_unknown_grouping() -> None:
    with pytest.raises(ConfigurationError, match="'root' or 'all', not 'step'"):
        Aggregate(by="step")  # type: ignore[arg-type]


# -- streaming or barrier -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("callback", "barrier"),
    [
        (Each(), False),
        (Scatter(), False),
        (Broadcast(2), False),
        (Aggregate(), True),
        (TemplateCallback("t", lambda step: []), True),
    ],
    ids=["each", "scatter", "broadcast", "aggregate", "template"],
)
def test_builtin_callbacks_are_streaming_or_barrier(callback: Callback, barrier: bool) -> None:
    assert callback.is_barrier is barrier


def test_a_user_callback_overriding_map_is_streaming() -> None:
    class Upper(Callback):
        def map(self, result: TaskResult) -> TaskInput:
            return TaskInput(text=result.result.upper())

    upper = Upper()

    assert upper.is_barrier is False
    assert _fields(upper.map(_result("hi"))) == [{"text": "HI"}]


def test_a_user_callback_overriding_reduce_is_a_barrier() -> None:
    class Count(Callback):
        def reduce(self, results: list[TaskResult]) -> TaskInput:
            return TaskInput(count=len(results))

    count = Count()

    assert count.is_barrier is True
    assert _fields(count.reduce([_result("a"), _result("b")])) == [{"count": 2}]


def test_a_user_callback_implementing_nothing_says_what_to_implement() -> None:
    class Nothing(Callback):
        pass

    with pytest.raises(NotImplementedError, match=r"Nothing must implement map\(\) or reduce"):
        Nothing().map(_result("a"))


# -- TemplateCallback ---------------------------------------------------------------------


class PairUp(StepTemplate):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[StepOutput] = []

    def create_workflow(self, **inputs: Any) -> Workflow:
        raise NotImplementedError

    def callback(self, step: StepOutput) -> list[TaskInput]:
        self.seen.append(step)
        texts = [r.result for r in step.output]
        return [TaskInput(pair=f"{a}+{b}") for a, b in pairwise(texts)]


def test_template_callback_calls_the_templates_callback_with_the_step_output() -> None:
    template = PairUp()
    results = [_result("a"), _result("b"), _result("c")]

    produced = template.custom().flow.reduce(results)

    assert template.seen == [StepOutput("pair_up", results)]
    assert _fields(produced) == [{"pair": "a+b"}, {"pair": "b+c"}]


def test_template_callback_gathers_the_whole_step_and_binds_no_target() -> None:
    callback = PairUp().custom().flow

    assert isinstance(callback, TemplateCallback)
    assert callback.group_by == "all"
    assert callback.binds_target is False
    assert Each.binds_target is True


# -- as_inputs ----------------------------------------------------------------------------


def test_as_inputs_accepts_one_task_input() -> None:
    single = TaskInput(q="a")

    assert as_inputs(single, "test") == [single]


def test_as_inputs_accepts_a_dict_and_a_mixed_list() -> None:
    inputs = as_inputs([{"q": "a"}, TaskInput(q="b")], "test")

    assert all(isinstance(i, TaskInput) for i in inputs)
    assert [dict(i) for i in inputs] == [{"q": "a"}, {"q": "b"}]
    assert _fields({"q": "c"}) == [{"q": "c"}]


def test_as_inputs_of_an_empty_list_is_empty() -> None:
    assert as_inputs([], "test") == []


@pytest.mark.parametrize("produced", [None, "text", 3, ("q", "a"), [TaskInput(q="a"), "b"]])
def test_as_inputs_rejects_other_types_naming_where(produced: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"step 'x' callback: a callback returned"):
        as_inputs(produced, "step 'x' callback")
