"""The executor's semantics, one at a time, against a scripted fake adapter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from fanflow import (
    ConfigurationError,
    ExecutionError,
    ProviderError,
    StepFailed,
    WorkflowTimeout,
)
from fanflow.adapters import Generation, GenerationRequest, ToolCall, Usage
from fanflow.engine import run_workflow
from fanflow.steps import (
    ConditionBuilder,
    Edge,
    Expression,
    GetAll,
    Operator,
    Push,
    Read,
    Size,
    Workflow,
    WorkflowBuilder,
    Write,
)

from . import FakeAdapter, echo

DRIA_JSON = Path(__file__).parents[2] / "steps" / "dria_workflow.json"


def _chain(length: int, max_steps: int | None = None) -> Workflow:
    """Tasks t0 -> t1 -> ... -> _end."""
    builder = WorkflowBuilder()
    for index in range(length):
        builder.generative_step(f"step {index}", id=f"t{index}")
    builder.flow([Edge(source=f"t{i}", target=f"t{i + 1}") for i in range(length - 1)])
    if max_steps is not None:
        builder.set_max_steps(max_steps)
    return builder.build()


def _endless_loop(max_steps: int, fallback: str | None = None) -> Workflow:
    """Task `spin` pushes and loops until 1000 items: far past any max_steps used here."""
    builder = WorkflowBuilder()
    builder.generative_step("again", id="spin", outputs=[Push.new("xs")])
    builder.generative_step("rescued", id="rescue")
    never = ConditionBuilder.build(1000, Expression.GREATER_THAN_OR_EQUAL, Size.new("xs"), "spin")
    builder.flow(
        [
            Edge(source="spin", target="_end", condition=never, fallback=fallback),
            Edge(source="rescue", target="_end"),
        ]
    )
    builder.set_max_steps(max_steps)
    return builder.build()


def _with_config(workflow: Workflow, **config: Any) -> Workflow:
    document = workflow.model_dump(mode="json")
    document["config"].update(config)
    return Workflow(**document)  # not model_validate: that refuses a document without result


def _rescuable(first: str = "a") -> Workflow:
    """`a` -> `b`, with `rescue` as `a`'s fallback."""
    builder = WorkflowBuilder()
    builder.generative_step("A", id=first, outputs=[Write.new("a_out")])
    builder.generative_step("B", id="b")
    builder.generative_step("R", id="rescue")
    builder.flow(
        [
            Edge(source=first, target="b", fallback="rescue"),
            Edge(source="b", target="_end"),
            Edge(source="rescue", target="_end"),
        ]
    )
    return builder.build()


def _single(prompt: str = "Go.", **memory: str | list[str]) -> Workflow:
    builder = WorkflowBuilder(**memory)
    builder.generative_step(prompt, id="only", outputs=[Write.new("out")])
    builder.set_return_value("out")
    return builder.build()


# --- the Dria document --------------------------------------------------------------------


async def test_dria_document_loops_until_three_answers() -> None:
    workflow = Workflow.model_validate_json(DRIA_JSON.read_text(encoding="utf-8"))
    count = iter(range(1, 100))

    def model(request: GenerationRequest) -> str:
        prompt = request.messages[-1].content
        return f"Q{next(count)}" if prompt.startswith("Write one question") else f"A to {prompt}"

    adapter = FakeAdapter(respond=model)

    result = await run_workflow(workflow, adapter)

    assert result.steps_taken == 6
    assert result.path == ("question", "answer") * 3
    assert isinstance(result.value, list)
    assert len(result.value) == 3
    assert result.value == [
        "A to Answer this question: Q1. Seeds: a\nb",
        "A to Answer this question: Q2. Seeds: a\nb",
        "A to Answer this question: Q3. Seeds: a\nb",
    ]
    assert orjson.loads(result.result) == result.value
    assert adapter.prompts[0] == "Write one question about quantum computing."
    assert all(request.max_tokens == 512 for request in adapter.requests)


# --- routing ------------------------------------------------------------------------------


async def test_execution_follows_edges_from_the_first_task() -> None:
    adapter = FakeAdapter(respond=echo)

    result = await run_workflow(_chain(3), adapter)

    assert result.path == ("t0", "t1", "t2")
    assert adapter.prompts == ["step 0", "step 1", "step 2"]
    assert result.steps_taken == 3


def _branching(expression: Expression, expected: str) -> Workflow:
    builder = WorkflowBuilder()
    builder.generative_step("Check.", id="check", outputs=[Write.new("v")])
    builder.generative_step("Yes.", id="yes")
    builder.generative_step("No.", id="no")
    condition = ConditionBuilder.build(expected, expression, Read.new("v"), "no")
    builder.flow(
        [
            Edge(source="check", target="yes", condition=condition),
            Edge(source="yes", target="_end"),
            Edge(source="no", target="_end"),
        ]
    )
    return builder.build()


@pytest.mark.parametrize(
    ("expression", "actual", "expected", "holds"),
    [
        (Expression.EQUAL, "Yes", "Yes", True),
        (Expression.EQUAL, "  Yes\n", "Yes", True),
        (Expression.EQUAL, "yes", "Yes", False),
        (Expression.NOT_EQUAL, "No", "Yes", True),
        (Expression.NOT_EQUAL, "Yes", "Yes", False),
        (Expression.CONTAINS, "the answer is yes.", "yes", True),
        (Expression.CONTAINS, "the answer is no.", "yes", False),
        (Expression.NOT_CONTAINS, "the answer is no.", "yes", True),
        (Expression.NOT_CONTAINS, "the answer is yes.", "yes", False),
        (Expression.GREATER_THAN, "10", "9", True),
        (Expression.GREATER_THAN, "9", "9", False),
        (Expression.LESS_THAN, "2.5", "3", True),
        (Expression.LESS_THAN, "3", "3", False),
        (Expression.GREATER_THAN_OR_EQUAL, "3", "3.0", True),
        (Expression.GREATER_THAN_OR_EQUAL, "2", "3", False),
        (Expression.LESS_THAN_OR_EQUAL, " 3 ", "3", True),
        (Expression.LESS_THAN_OR_EQUAL, "4", "3", False),
        (Expression.HAVE_SIMILAR, "Paris is the capital", "paris is the capital.", True),
        (Expression.HAVE_SIMILAR, "banana", "Paris is the capital", False),
    ],
)
async def test_condition_routes_to_target_or_target_if_not(
    expression: Expression, actual: str, expected: str, holds: bool
) -> None:
    adapter = FakeAdapter(actual, "done")

    result = await run_workflow(_branching(expression, expected), adapter)

    assert result.path == ("check", "yes" if holds else "no")


async def test_numeric_condition_on_text_fails_the_task_naming_the_edge() -> None:
    with pytest.raises(ExecutionError) as caught:
        await run_workflow(_branching(Expression.GREATER_THAN, "3"), FakeAdapter("three"))

    message = str(caught.value)
    assert message.startswith("task 'check' failed and has no fallback: ")
    assert "edge 'check' -> 'yes': a numeric condition got 'three'" in message


async def test_numeric_condition_on_text_goes_to_the_fallback() -> None:
    builder = WorkflowBuilder()
    builder.generative_step("Count.", id="count", outputs=[Write.new("n")])
    builder.generative_step("Recover.", id="recover")
    condition = ConditionBuilder.build(3, Expression.GREATER_THAN, Read.new("n"), "count")
    builder.flow(
        [
            Edge(source="count", target="_end", condition=condition, fallback="recover"),
            Edge(source="recover", target="_end"),
        ]
    )

    result = await run_workflow(builder.build(), FakeAdapter("many", "ok"))

    assert result.path == ("count", "recover")


# --- failures -----------------------------------------------------------------------------


async def test_failed_task_goes_to_its_fallback() -> None:
    adapter = FakeAdapter(ProviderError("boom", status_code=500), "rescued")

    result = await run_workflow(_rescuable(), adapter)

    assert result.path == ("a", "rescue")
    assert "a_out" not in result.memory


async def test_fanflow_error_without_fallback_keeps_its_class_and_attributes() -> None:
    original = ProviderError("server said no", status_code=503, body="busy", endpoint="e1")

    with pytest.raises(ProviderError) as caught:
        await run_workflow(_chain(2), FakeAdapter(original))

    error = caught.value
    assert str(error) == "task 't0' failed and has no fallback: server said no"
    assert (error.status_code, error.body, error.endpoint) == (503, "busy", "e1")
    assert error.__cause__ is original


async def test_plain_exception_without_fallback_becomes_step_failed() -> None:
    original = KeyError("missing")

    with pytest.raises(StepFailed) as caught:
        await run_workflow(_chain(2), FakeAdapter(original))

    error = caught.value
    assert error.task_id == "t0"
    assert str(error).startswith("task 't0' failed and has no fallback: KeyError")
    assert error.__cause__ is original


async def test_plain_exception_goes_to_the_fallback_too() -> None:
    result = await run_workflow(_rescuable(), FakeAdapter(RuntimeError("bug"), "rescued"))

    assert result.path == ("a", "rescue")


async def test_failure_in_a_later_task_names_that_task() -> None:
    adapter = FakeAdapter("fine", ProviderError("boom", status_code=500))

    with pytest.raises(ProviderError, match=r"^task 't1' failed"):
        await run_workflow(_chain(3), adapter)

    assert len(adapter.requests) == 2


async def test_missing_required_input_goes_to_the_fallback_without_a_call() -> None:
    builder = WorkflowBuilder(stack=[])
    builder.generative_step("{{stack}}", id="a", inputs=[GetAll.new("stack")])
    builder.generative_step("R", id="rescue")
    builder.flow([Edge(source="a", target="_end", fallback="rescue")])
    builder.flow([Edge(source="rescue", target="_end")])
    adapter = FakeAdapter(respond=echo)

    result = await run_workflow(builder.build(), adapter)

    assert result.path == ("a", "rescue")
    assert adapter.prompts == ["R"]


# --- limits -------------------------------------------------------------------------------


@pytest.mark.parametrize("max_steps", [1, 2, 5])
async def test_a_loop_runs_exactly_max_steps_tasks_then_fails(max_steps: int) -> None:
    adapter = FakeAdapter(respond=echo)

    with pytest.raises(ExecutionError, match=f"max_steps={max_steps} before task 'spin'"):
        await run_workflow(_endless_loop(max_steps), adapter)

    assert len(adapter.requests) == max_steps


async def test_max_steps_is_not_a_task_failure_for_fallbacks() -> None:
    adapter = FakeAdapter(respond=echo)

    with pytest.raises(ExecutionError, match="max_steps=3"):
        await run_workflow(_endless_loop(3, fallback="rescue"), adapter)

    assert adapter.prompts == ["again"] * 3


@pytest.mark.parametrize("length", [1, 4])
async def test_a_workflow_needing_exactly_max_steps_succeeds(length: int) -> None:
    result = await run_workflow(_chain(length, max_steps=length), FakeAdapter(respond=echo))

    assert result.steps_taken == length


async def test_a_workflow_needing_one_more_than_max_steps_fails() -> None:
    adapter = FakeAdapter(respond=echo)

    with pytest.raises(ExecutionError, match="max_steps=3 before task 't3'"):
        await run_workflow(_chain(4, max_steps=3), adapter)

    assert len(adapter.requests) == 3


class _Hanging:
    """An adapter whose calls never finish; `started` is set when one begins."""

    def __init__(self, fast_answers: int = 0) -> None:
        self.fast_answers = fast_answers
        self.started = anyio.Event()
        self._never = anyio.Event()

    async def generate(self, request: GenerationRequest) -> Generation:
        if self.fast_answers:
            self.fast_answers -= 1
            return Generation(text="quick")
        self.started.set()
        await self._never.wait()
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        return None


async def test_max_time_interrupts_a_slow_call_and_names_the_task() -> None:
    builder = WorkflowBuilder()
    builder.generative_step("Go.", id="slow")
    builder.set_max_time(0.2)
    adapter = _Hanging()

    with anyio.fail_after(10), pytest.raises(WorkflowTimeout) as caught:
        await run_workflow(builder.build(), adapter)

    assert adapter.started.is_set()
    assert "max_time=0.2s during task 'slow'" in str(caught.value)
    assert isinstance(caught.value, TimeoutError)


async def test_max_time_names_the_task_that_was_running_and_ignores_fallbacks() -> None:
    workflow = _rescuable(first="fast")
    workflow = _with_config(workflow, max_time=0.2)

    with anyio.fail_after(10), pytest.raises(WorkflowTimeout, match="during task 'b'"):
        await run_workflow(workflow, _Hanging(fast_answers=1))


# --- the result ---------------------------------------------------------------------------


async def test_return_value_with_to_json_gives_a_json_array() -> None:
    builder = WorkflowBuilder()
    builder.generative_step("one", id="a", outputs=[Push.new("xs")])
    builder.generative_step("two", id="b", outputs=[Push.new("xs")])
    builder.flow([Edge(source="a", target="b")])
    builder.set_return_value("xs")

    result = await run_workflow(builder.build(), FakeAdapter(respond=echo))

    assert result.result == '["one","two"]'
    assert result.value == ["one", "two"]


async def test_json_items_of_a_returned_stack_are_embedded_not_quoted() -> None:
    builder = WorkflowBuilder()
    builder.generative_step("Go.", outputs=[Push.new("xs")])
    builder.set_return_value("xs")

    result = await run_workflow(builder.build(), FakeAdapter(' {"a": 1}'))

    assert result.value == [{"a": 1}]


async def test_several_return_keys_give_one_json_array() -> None:
    builder = WorkflowBuilder(topic="tides")
    builder.generative_step("one", outputs=[Push.new("xs")])
    builder.set_return_value(["topic", "xs"])

    result = await run_workflow(builder.build(), FakeAdapter(respond=echo))

    assert result.value == ["tides", ["one"]]


async def test_text_return_value_is_the_text() -> None:
    result = await run_workflow(_single(), FakeAdapter("The answer."))

    assert result.result == result.value == "The answer."


async def test_stack_returned_without_to_json_is_joined_by_newlines() -> None:
    document = _single(xs=["a", "b"]).model_dump(mode="json")
    document["return_value"] = {"input": {"type": "get_all", "key": "xs"}}

    result = await run_workflow(Workflow.model_validate(document), FakeAdapter("x"))

    assert result.result == "a\nb"


async def test_post_process_of_a_stack_returned_as_text_applies_to_each_item() -> None:
    document = _single(xs=[" a ", "b "]).model_dump(mode="json")
    document["return_value"] = {
        "input": {"type": "get_all", "key": "xs"},
        "post_process": [{"process_type": "trim"}, {"process_type": "append", "lhs": "."}],
    }

    result = await run_workflow(Workflow.model_validate(document), FakeAdapter("x"))

    assert result.result == "a.\nb."


async def test_a_returned_key_with_nothing_in_memory_fails_naming_the_key() -> None:
    document = _single().model_dump(mode="json")
    document["return_value"] = {
        "input": {"type": "read", "key": "nowhere"},
        "post_process": [{"process_type": "append", "lhs": "!"}],
    }

    with pytest.raises(ExecutionError, match="return_value reads 'nowhere'"):
        await run_workflow(Workflow.model_validate(document), FakeAdapter("x"))


async def test_no_return_value_gives_empty_text() -> None:
    result = await run_workflow(_chain(1), FakeAdapter("ignored"))

    assert (result.result, result.value) == ("", "")


@pytest.mark.parametrize(
    ("process", "expected"),
    [
        ({"process_type": "replace", "lhs": "cat", "rhs": "dog"}, "  A dog, a dog.  "),
        ({"process_type": "append", "lhs": "!"}, "  A cat, a cat.  !"),
        ({"process_type": "prepend", "lhs": ">"}, ">  A cat, a cat.  "),
        ({"process_type": "trim"}, "A cat, a cat."),
        ({"process_type": "trim_start"}, "A cat, a cat.  "),
        ({"process_type": "trim_end"}, "  A cat, a cat."),
        ({"process_type": "to_lower"}, "  a cat, a cat.  "),
        ({"process_type": "to_upper"}, "  A CAT, A CAT.  "),
    ],
)
async def test_post_process_transforms_the_return_value(
    process: dict[str, str], expected: str
) -> None:
    document = _single().model_dump(mode="json")
    document["return_value"]["post_process"] = [process]

    result = await run_workflow(Workflow.model_validate(document), FakeAdapter("  A cat, a cat.  "))

    assert result.result == expected


async def test_post_process_steps_apply_in_order_to_each_returned_item() -> None:
    builder = WorkflowBuilder()
    builder.generative_step("Go.", outputs=[Push.new("xs")])
    builder.set_return_value("xs")
    document = builder.build().model_dump(mode="json")
    document["return_value"]["post_process"] = [
        {"process_type": "trim"},
        {"process_type": "append", "lhs": "?"},
        {"process_type": "to_upper"},
    ]

    result = await run_workflow(Workflow.model_validate(document), FakeAdapter("  why "))

    assert result.value == ["WHY?"]


async def test_usage_sums_every_call() -> None:
    adapter = FakeAdapter(
        Generation(text="a", usage=Usage(prompt_tokens=3, completion_tokens=5)),
        Generation(text="b", usage=Usage(prompt_tokens=7, completion_tokens=11)),
    )

    result = await run_workflow(_chain(2), adapter)

    assert result.usage == Usage(prompt_tokens=10, completion_tokens=16)
    assert result.usage.total_tokens == 26
    assert result.generations == 2


async def test_usage_counts_the_calls_after_a_fallback() -> None:
    adapter = FakeAdapter(
        ProviderError("boom"), Generation(text="r", usage=Usage(prompt_tokens=1)), respond=echo
    )

    result = await run_workflow(_rescuable(), adapter)

    assert result.usage == Usage(prompt_tokens=1)
    assert result.generations == 1


async def test_requests_carry_model_temperature_and_max_tokens() -> None:
    builder = WorkflowBuilder()
    builder.generative_step("one", id="a")
    builder.generative_step("two", id="b")
    builder.flow([Edge(source="a", target="b")])
    builder.set_max_tokens(64)
    adapter = FakeAdapter(respond=echo)

    await run_workflow(builder.build(), adapter, "model-x", temperature=0.3)

    assert [(r.model, r.temperature, r.max_tokens) for r in adapter.requests] == [
        ("model-x", 0.3, 64),
        ("model-x", 0.3, 64),
    ]
    assert all(r.json_schema is None and r.tools is None for r in adapter.requests)


async def test_requests_default_to_the_adapter_model_and_temperature() -> None:
    adapter = FakeAdapter(respond=echo)

    await run_workflow(_chain(1), adapter)

    (request,) = adapter.requests
    assert (request.model, request.temperature, request.max_tokens) == (None, None, None)


async def test_requests_carry_the_message_history_rendered() -> None:
    builder = WorkflowBuilder(persona="a pirate")
    builder.generative_step(
        "Hi.",
        msg_history=[
            {"role": "system", "content": "You are {{persona}}."},
            {"role": "assistant", "content": "Arr."},
        ],
    )
    adapter = FakeAdapter(respond=echo)

    await run_workflow(builder.build(), adapter)

    (request,) = adapter.requests
    assert [(m.role, m.content) for m in request.messages] == [
        ("system", "You are a pirate."),
        ("assistant", "Arr."),
        ("user", "Hi."),
    ]


# --- function calling ---------------------------------------------------------------------

WEATHER = {
    "name": "get_weather",
    "description": "Current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def _calling(raw: bool, custom_tools: list[dict[str, Any]] | None = None) -> Workflow:
    builder = WorkflowBuilder(city="Paris")
    builder.function_calling_step(
        "Weather in {{city}}?", id="call", raw=raw, outputs=[Write.new("out")]
    )
    builder.set_return_value("out")
    workflow = builder.build()
    return workflow if custom_tools is None else _with_config(workflow, custom_tools=custom_tools)


def _calls(*calls: tuple[str, str]) -> Generation:
    return Generation(text="", tool_calls=tuple(ToolCall(name, args) for name, args in calls))


async def test_function_calling_raw_returns_the_calls_as_json() -> None:
    adapter = FakeAdapter(_calls(("get_weather", '{"city": "Paris"}'), ("get_weather", "oops")))

    result = await run_workflow(_calling(raw=True, custom_tools=[WEATHER]), adapter)

    assert result.value == [
        {"name": "get_weather", "arguments": {"city": "Paris"}},
        {"name": "get_weather", "arguments": "oops"},
    ]
    (request,) = adapter.requests
    assert request.tools == ({"type": "function", "function": WEATHER},)
    assert request.messages[-1].content == "Weather in Paris?"


async def test_tool_definitions_already_in_openai_form_are_sent_as_they_are() -> None:
    wrapped = {"type": "function", "function": WEATHER}
    adapter = FakeAdapter(_calls())

    await run_workflow(_calling(raw=True, custom_tools=[wrapped]), adapter)

    assert adapter.requests[0].tools == (wrapped,)


async def test_function_calling_runs_the_given_tools() -> None:
    seen: list[str] = []

    def get_weather(city: str) -> str:
        seen.append(city)
        return f"sunny in {city}"

    async def get_time(city: str) -> dict[str, str]:
        return {"city": city, "time": "noon"}

    adapter = FakeAdapter(
        _calls(("get_weather", '{"city": "Paris"}'), ("get_time", '{"city": "Oslo"}'))
    )
    tools = {"get_weather": get_weather, "get_time": get_time}

    result = await run_workflow(_calling(False, [WEATHER]), adapter, tools=tools)

    assert seen == ["Paris"]
    assert result.result == 'sunny in Paris\n{"city":"Oslo","time":"noon"}'


async def test_function_calling_without_a_call_keeps_the_text() -> None:
    adapter = FakeAdapter("No tool needed.")

    result = await run_workflow(_calling(False, [WEATHER]), adapter, tools={})

    assert result.value == "No tool needed."


@pytest.mark.parametrize(
    ("reply", "tools", "message"),
    [
        (_calls(("get_weather", "{}")), {}, "needs the tool 'get_weather', which was not given"),
        (_calls(("get_weather", "[1]")), {"get_weather": str}, "not a JSON object"),
        (_calls(("get_weather", '{"town": "x"}')), {"get_weather": lambda city: city}, "raised"),
    ],
    ids=["unknown-tool", "arguments-not-an-object", "tool-raises"],
)
async def test_function_calling_problems_fail_the_task(
    reply: Generation, tools: dict[str, Any], message: str
) -> None:
    with pytest.raises(ExecutionError, match=message) as caught:
        await run_workflow(_calling(False, [WEATHER]), FakeAdapter(reply), tools=tools)

    assert str(caught.value).startswith("task 'call' failed")


async def test_function_calling_without_tool_definitions_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="defines no tools; put OpenAI function"):
        await run_workflow(_calling(raw=True), FakeAdapter(_calls()))


# --- search and sample --------------------------------------------------------------------


def _searching(**memory: str | list[str]) -> Workflow:
    builder = WorkflowBuilder(**memory)
    builder.search_step("{{topic}} facts", n_results=2, id="find", outputs=[Write.new("found")])
    builder.set_return_value("found")
    return builder.build()


async def test_search_calls_the_search_tool_with_the_rendered_query() -> None:
    queries: list[dict[str, Any]] = []

    async def search(**query: Any) -> list[str]:
        queries.append(query)
        return ["r1", "r2"]

    adapter = FakeAdapter()

    result = await run_workflow(_searching(topic="tides"), adapter, tools={"search": search})

    assert queries == [
        {"query": "tides facts", "search_type": "search", "lang": "en", "n_results": 2}
    ]
    assert result.value == ["r1", "r2"]
    assert adapter.requests == []


async def test_search_query_may_hold_quotes_and_newlines() -> None:
    queries: list[str] = []

    def search(query: str, **_: Any) -> str:
        queries.append(query)
        return "ok"

    topic = 'the "moon"\nand C:\\tides'

    await run_workflow(_searching(topic=topic), FakeAdapter(), tools={"search": search})

    assert queries == [f"{topic} facts"]


async def test_search_without_a_search_tool_fails_naming_the_tool() -> None:
    with pytest.raises(ExecutionError) as caught:
        await run_workflow(_searching(topic="tides"), FakeAdapter())

    message = str(caught.value)
    assert message.startswith("task 'find' failed")
    assert "needs the tool 'search'" in message
    assert "tools={'search': function}" in message


async def test_search_query_that_is_not_a_json_object_fails_clearly() -> None:
    document = _searching(topic="tides").model_dump(mode="json")
    document["tasks"][0]["messages"][0]["content"] = "{{topic}} facts"

    with pytest.raises(ExecutionError, match="task 'find': the search query is not JSON"):
        await run_workflow(Workflow.model_validate(document), FakeAdapter(), tools={"search": str})


def _sampling(items: list[str]) -> Workflow:
    builder = WorkflowBuilder(items=items)
    builder.generative_step(
        "{{items}}",
        operator=Operator.SAMPLE,
        inputs=[GetAll.new("items", required=False)],
        outputs=[Write.new("pick")],
    )
    builder.set_return_value("pick")
    return builder.build()


async def test_sample_is_deterministic_for_a_seed() -> None:
    items = [f"item{i}" for i in range(20)]
    adapter = FakeAdapter()

    picks = [(await run_workflow(_sampling(items), adapter, seed=s)).value for s in range(10)]
    again = [(await run_workflow(_sampling(items), adapter, seed=s)).value for s in range(10)]

    assert picks == again
    assert set(picks) <= set(items)
    assert len(set(picks)) > 1
    assert adapter.requests == []


async def test_sample_without_a_stack_fails_the_task() -> None:
    with pytest.raises(ExecutionError, match="sample operator needs a non-empty stack"):
        await run_workflow(_sampling([]), FakeAdapter())
