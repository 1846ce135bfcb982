"""Workflow memory as a run sees it: each read and write, observed through `run_workflow`."""

from __future__ import annotations

import pytest

from fanflow import ExecutionError
from fanflow.engine import WorkflowResult, run_workflow
from fanflow.steps import (
    Edge,
    GetAll,
    Input,
    Insert,
    Output,
    OutputType,
    Peek,
    Pop,
    Push,
    Read,
    Size,
    String,
    Workflow,
    WorkflowBuilder,
    Write,
)

from . import FakeAdapter, echo


async def _render(prompt: str, inputs: list[Input] | None = None, **memory: str | list[str]) -> str:
    """What the model is shown for `prompt` in a one-step workflow over `memory`."""
    builder = WorkflowBuilder(**memory)
    builder.generative_step(prompt, id="show", inputs=inputs)
    adapter = FakeAdapter(respond=echo)
    await run_workflow(builder.build(), adapter)
    (shown,) = adapter.prompts
    return shown


async def _run(workflow: Workflow, *replies: str) -> WorkflowResult:
    return await run_workflow(workflow, FakeAdapter(*replies, respond=echo))


# --- reads --------------------------------------------------------------------------------


async def test_read_renders_a_cache_value() -> None:
    assert await _render("About {{topic}}.", topic="tides") == "About tides."


async def test_template_variables_may_have_spaces_inside_the_braces() -> None:
    assert await _render("About {{ topic }}.", topic="tides") == "About tides."


async def test_read_of_a_stack_renders_its_items_joined_by_newlines() -> None:
    shown = await _render("Seeds:\n{{seeds}}", inputs=[Read.new("seeds")], seeds=["a", "b", "c"])

    assert shown == "Seeds:\na\nb\nc"


async def test_get_all_renders_every_item_joined_by_newlines() -> None:
    assert await _render("{{seeds}}", seeds=["a", "b"]) == "a\nb"


async def test_get_all_of_a_cache_value_is_that_one_value() -> None:
    assert await _render("{{topic}}", inputs=[GetAll.new("topic")], topic="tides") == "tides"


async def test_rendered_values_are_not_rendered_again() -> None:
    assert await _render("{{a}}", a="{{b}}", b="no") == "{{b}}"


async def test_text_that_is_not_a_variable_is_left_as_it_is() -> None:
    shown = await _render("{{x-y}} {x} %s {0} \\1 {{ z }}{{z}}!", z="Z")

    assert shown == "{{x-y}} {x} %s {0} \\1 ZZ!"


async def test_the_same_template_renders_each_run_with_that_runs_values() -> None:
    shown = [await _render("About {{topic}}.", topic=topic) for topic in ("tides", "moons")]

    assert shown == ["About tides.", "About moons."]


async def test_pop_takes_the_newest_item_and_removes_it() -> None:
    builder = WorkflowBuilder(stack=["old", "new"])
    builder.generative_step("{{stack}}", id="take", inputs=[Pop.new("stack")])
    adapter = FakeAdapter(respond=echo)

    result = await run_workflow(builder.build(), adapter)

    assert adapter.prompts == ["new"]
    assert result.memory["stack"] == ["old"]


async def test_pops_in_a_row_go_from_newest_to_oldest() -> None:
    builder = WorkflowBuilder(stack=["first", "second"])
    builder.generative_step("{{stack}}", id="one", inputs=[Pop.new("stack")])
    builder.generative_step("{{stack}}", id="two", inputs=[Pop.new("stack")])
    builder.flow([Edge(source="one", target="two")])
    adapter = FakeAdapter(respond=echo)

    result = await run_workflow(builder.build(), adapter)

    assert adapter.prompts == ["second", "first"]
    assert result.memory["stack"] == []


@pytest.mark.parametrize(("index", "shown"), [(0, "oldest"), (1, "middle"), (2, "newest")])
async def test_peek_counts_from_the_oldest_item(index: int, shown: str) -> None:
    stack = ["oldest", "middle", "newest"]

    assert await _render("{{s}}", inputs=[Peek.new("s", index)], s=stack) == shown


async def test_peek_leaves_the_stack_as_it_was() -> None:
    builder = WorkflowBuilder(s=["a", "b"])
    builder.generative_step("{{s}}", inputs=[Peek.new("s", 1)])

    result = await _run(builder.build())

    assert result.memory["s"] == ["a", "b"]


async def test_size_counts_the_items_of_a_stack() -> None:
    assert await _render("{{s}}", inputs=[Size.new("s")], s=["a", "b", "c"]) == "3"


async def test_size_of_a_cache_value_is_one() -> None:
    assert await _render("{{s}}", inputs=[Size.new("s")], s="value") == "1"


async def test_size_of_an_absent_key_is_zero() -> None:
    assert await _render("{{nothing}}", inputs=[Size.new("nothing")]) == "0"


async def test_string_renders_its_literal() -> None:
    assert await _render("Be {{style}}.", inputs=[String.new("style", "terse")]) == "Be terse."


# --- missing values -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "read",
    [Read.new("s"), Pop.new("s"), GetAll.new("s"), Peek.new("s", 0), Peek.new("s", 5)],
    ids=["read", "pop", "get_all", "peek-empty", "peek-out-of-range"],
)
async def test_required_read_that_finds_nothing_fails_the_task(read: Input) -> None:
    builder = WorkflowBuilder(s=[])
    builder.generative_step("{{s}}", id="needy", inputs=[read])

    with pytest.raises(ExecutionError) as caught:
        await _run(builder.build())

    message = str(caught.value)
    assert message.startswith("task 'needy' failed and has no fallback: ")
    assert f"required input 's' ({read.value.type.value} 's') found nothing" in message


async def test_optional_read_that_finds_nothing_renders_empty() -> None:
    shown = await _render("[{{s}}]", inputs=[Pop.new("s", required=False)], s=[])

    assert shown == "[]"


# --- writes -------------------------------------------------------------------------------


async def test_write_replaces_the_value() -> None:
    builder = WorkflowBuilder(answer="initial")
    builder.generative_step("one", id="a", outputs=[Write.new("answer")])
    builder.generative_step("two", id="b", outputs=[Write.new("answer")])
    builder.flow([Edge(source="a", target="b")])
    builder.set_return_value("answer")

    result = await _run(builder.build())

    assert result.value == "two"
    assert result.memory["answer"] == "two"


async def test_push_appends_to_the_stack_in_order() -> None:
    builder = WorkflowBuilder(answers=["seed"])
    builder.generative_step("one", id="a", outputs=[Push.new("answers")])
    builder.generative_step("two", id="b", outputs=[Push.new("answers")])
    builder.flow([Edge(source="a", target="b")])
    builder.set_return_value("answers")

    result = await _run(builder.build())

    assert result.value == ["seed", "one", "two"]


async def test_insert_appends_like_push() -> None:
    builder = WorkflowBuilder()
    builder.generative_step("one", id="a", outputs=[Insert.new("docs")])
    builder.generative_step("two", id="b", outputs=[Insert.new("docs")])
    builder.flow([Edge(source="a", target="b")])

    result = await _run(builder.build())

    assert result.memory["docs"] == ["one", "two"]


async def test_one_result_can_go_to_several_outputs() -> None:
    builder = WorkflowBuilder()
    builder.generative_step("hello", outputs=[Write.new("last"), Push.new("all")])

    result = await _run(builder.build())

    assert result.memory["last"] == "hello"
    assert result.memory["all"] == ["hello"]


async def test_an_output_with_a_literal_value_stores_the_literal() -> None:
    builder = WorkflowBuilder()
    done = Output(type=OutputType.WRITE, key="status", value="done")
    builder.generative_step("work", outputs=[done, Write.new("work")])

    result = await _run(builder.build())

    assert result.memory["status"] == "done"
    assert result.memory["work"] == "work"


async def test_written_value_is_read_by_a_later_step() -> None:
    builder = WorkflowBuilder(topic="tides")
    builder.generative_step("Q on {{topic}}", id="q", outputs=[Write.new("question")])
    builder.generative_step("A to {{question}}", id="a")
    builder.flow([Edge(source="q", target="a")])
    adapter = FakeAdapter("What causes tides?", respond=echo)

    await run_workflow(builder.build(), adapter)

    assert adapter.prompts == ["Q on tides", "A to What causes tides?"]


# --- the run's memory and the workflow's ---------------------------------------------------


async def test_a_run_does_not_change_the_workflow_memory() -> None:
    builder = WorkflowBuilder(stack=["a", "b"], note="n")
    builder.generative_step("{{stack}}", inputs=[Pop.new("stack")], outputs=[Write.new("note")])
    workflow = builder.build()

    first = await _run(workflow)
    second = await _run(workflow)

    assert workflow.external_memory == {"note": "n", "stack": ["a", "b"]}
    assert first.memory == second.memory == {"note": "b", "stack": ["a"]}


async def test_the_result_memory_holds_stacks_then_values_a_written_key_once() -> None:
    builder = WorkflowBuilder(note="n", seen=["a"])
    builder.generative_step("x", outputs=[Push.new("log"), Write.new("log")])

    result = await _run(builder.build())

    assert list(result.memory.items()) == [("seen", ["a"]), ("log", "x"), ("note", "n")]


async def test_changing_a_result_memory_changes_neither_the_workflow_nor_other_runs() -> None:
    builder = WorkflowBuilder(note="n", stack=["a"])
    builder.generative_step("x", outputs=[Write.new("out")])
    workflow = builder.build()

    first = await _run(workflow)
    first.memory["note"] = "changed"
    stack = first.memory["stack"]
    assert isinstance(stack, list)
    stack.append("b")
    second = await _run(workflow)

    assert workflow.external_memory == {"note": "n", "stack": ["a"]}
    assert second.memory == {"stack": ["a"], "note": "n", "out": "x"}
