"""`@fanflow.step` functions as pipeline steps: filter, flat-map, groups, errors, cache."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

import fanflow
from fanflow import (
    ConfigurationError,
    GenerationRequest,
    MockAdapter,
    OpenAIAdapter,
    PipelineBuilder,
    PipelineConfig,
    Prompt,
    TaskStatus,
)

QUESTIONS = ["short?", "what is a fairly long question one?", "tiny", "another long question, two?"]


def llm(request: GenerationRequest) -> str:
    prompt = request.messages[-1].content
    if prompt.startswith("questions on"):
        return orjson.dumps(QUESTIONS).decode()
    return f"A({prompt})"


def builder(adapter: MockAdapter | None = None, **config: Any) -> PipelineBuilder:
    settings = PipelineConfig(progress=False, store=False, **config)
    return PipelineBuilder(settings, adapter or MockAdapter(llm))


def questions(key: str | None = None) -> Prompt:
    return Prompt("questions", "questions on {{topic}}").scatter(key)


def answer() -> Prompt:
    return Prompt("answer", "{{question}}")


@fanflow.step
def keep_long(question: str) -> dict[str, Any] | None:
    return {"question": question} if len(question) > 20 else None


async def test_a_function_filters_and_its_dict_binds_downstream() -> None:
    pipeline = builder().input(topic="t")
    pipeline << questions() << keep_long << answer()
    result = await pipeline.build().execute()

    answers = sorted(row["answer"] for row in result.rows)
    assert answers == [f"A({q})" for q in sorted(QUESTIONS) if len(q) > 20]
    row = result.rows[0]
    assert row["keep_long"] == {"question": row["question"]}  # the dict is its column
    assert row["topic"] == "t"
    assert result.stats.filtered == 2
    assert result.stats.steps["keep_long"] == {"ok": 2, "filtered": 2}
    assert result.failures == []  # filtered is not failed
    filtered = result.steps["keep_long"].filtered
    assert sorted(r.inputs["question"] for r in filtered) == ["short?", "tiny"]
    assert all(r.status is TaskStatus.FILTERED for r in filtered)
    assert result.stats.requests == 1 + 2  # the function steps cost no request


async def test_a_list_flat_maps_and_bare_values_bind_under_the_step_name() -> None:
    @fanflow.step(name="words")
    def split(question: str) -> list[str]:
        return question.rstrip("?").split()[:2]

    pipeline = builder().input(topic="t")
    pipeline << questions() << split << Prompt("echo", "{{words}}")
    result = await pipeline.build().execute()

    assert sorted(row["echo"] for row in result.rows) == sorted(
        f"A({w})" for q in QUESTIONS for w in q.rstrip("?").split()[:2]
    )
    assert all(row["words"] == row["echo"][2:-1] for row in result.rows)


async def test_an_async_function_and_a_sync_one_off_the_event_loop() -> None:
    loop_thread = threading.get_ident()
    threads: list[int] = []

    @fanflow.step
    async def shout(question: str) -> dict[str, str]:
        return {"question": question.upper()}

    @fanflow.step
    def where(question: str) -> dict[str, str]:
        threads.append(threading.get_ident())
        return {"question": question}

    @fanflow.step(inline=True)
    def here(question: str) -> dict[str, str]:
        threads.append(-threading.get_ident())
        return {"question": question}

    pipeline = builder().input(topic="t")
    pipeline << questions() << shout << where << here << answer()
    result = await pipeline.build().execute()

    assert sorted(row["answer"] for row in result.rows) == sorted(
        f"A({q.upper()})" for q in QUESTIONS
    )
    assert loop_thread not in [t for t in threads if t > 0]  # sync: in a worker thread
    assert {-t for t in threads if t < 0} == {loop_thread}  # inline=True: on the loop


async def test_group_all_sees_every_row_of_the_step_once() -> None:
    seen: list[int] = []

    @fanflow.step(group="all")
    async def dedupe(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        seen.append(len(rows))
        unique = dict.fromkeys(row["question"].lower() for row in rows)
        return [{"question": question} for question in unique]

    pipeline = builder().input([{"topic": "a"}, {"topic": "b"}])
    pipeline << questions(key="question") << dedupe << answer()
    result = await pipeline.build().execute()

    assert seen == [8]  # one call over both input rows' questions
    assert sorted(row["answer"] for row in result.rows) == sorted(
        f"A({q.lower()})" for q in QUESTIONS
    )
    assert result.stats.steps["dedupe"] == {"ok": 1}


async def test_a_bare_value_before_a_group_binds_under_the_previous_step_name() -> None:
    @fanflow.step(group="root")
    def first(rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {"question": rows[0]["questions"]}

    pipeline = builder().input(topic="a")
    pipeline << questions() << first << answer()
    result = await pipeline.build().execute()
    assert [row["answer"] for row in result.rows] == [f"A({QUESTIONS[0]})"]


async def test_group_root_sees_the_rows_of_one_input_row() -> None:
    @fanflow.step(group="root")
    def count(rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {"topic_size": len(rows), "first": rows[0]["question"]}

    pipeline = builder().input([{"topic": "a"}, {"topic": "b"}])
    pipeline << questions() << keep_long << count << Prompt("say", "{{topic}} {{topic_size}}")
    result = await pipeline.build().execute()

    assert sorted(row["say"] for row in result.rows) == ["A(a 2)", "A(b 2)"]
    assert all(row["count"]["first"] == QUESTIONS[1] for row in result.rows)
    assert "rows" not in result.rows[0]  # the group's list is not carried into every row


async def test_an_exception_fails_only_that_task_naming_the_function() -> None:
    @fanflow.step
    def picky(question: str) -> dict[str, str]:
        if question == "tiny":
            raise ValueError("too tiny")
        return {"question": question}

    pipeline = builder().input(topic="t")
    pipeline << questions() << picky << answer()
    result = await pipeline.build().execute()

    assert len(result.rows) == 3
    [failure] = result.failures
    assert failure.step == "picky" and failure.status is TaskStatus.FAILED
    assert failure.error is not None
    assert "picky" in failure.error and "ValueError: too tiny" in failure.error


async def test_an_exception_in_a_group_fails_that_group_only() -> None:
    @fanflow.step(group="root")
    def fussy(rows: list[dict[str, Any]]) -> dict[str, str]:
        if rows[0]["topic"] == "b":
            raise RuntimeError("no b")
        return {"question": rows[0]["question"]}

    pipeline = builder().input([{"topic": "a"}, {"topic": "b"}])
    pipeline << questions(key="question") << fussy << answer()
    result = await pipeline.build().execute()

    assert [row["topic"] for row in result.rows] == ["a"]
    [failure] = result.failures
    assert failure.step == "fussy" and "RuntimeError: no b" in (failure.error or "")


async def test_a_result_that_is_not_json_fails_that_task() -> None:
    @fanflow.step
    def odd(question: str) -> Any:
        return {"question": object()}

    pipeline = builder().input(topic="t")
    pipeline << questions() << odd << answer()
    result = await pipeline.build().execute()
    assert len(result.failures) == 4
    assert "odd" in (result.failures[0].error or "")


async def test_second_run_on_the_same_store_calls_no_function_again(tmp_path: Path) -> None:
    calls = {"keep": 0, "group": 0}

    @fanflow.step(name="keep_long")
    def counted_keep(question: str) -> dict[str, Any] | None:
        calls["keep"] += 1
        return {"question": question} if len(question) > 20 else None

    @fanflow.step(group="all")
    def dedupe(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        calls["group"] += 1
        return [{"question": row["question"]} for row in rows]

    adapter = MockAdapter(llm)
    settings = PipelineConfig(progress=False, store=tmp_path / "s.db")
    pipeline = PipelineBuilder(settings, adapter).input(topic="t")
    pipeline << questions() << counted_keep << dedupe << answer()
    built = pipeline.build()
    first = await built.execute()
    assert calls == {"keep": 4, "group": 1}
    sent = adapter.calls

    second = await built.execute()
    assert calls == {"keep": 4, "group": 1}  # filtered ones too: all came from the store
    assert adapter.calls == sent
    assert sorted(r["answer"] for r in second.rows) == sorted(r["answer"] for r in first.rows)
    assert second.stats.filtered == 2
    assert second.failures == []


async def test_a_changed_function_runs_again(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    calls: list[str] = []

    def run(version: str) -> Any:
        @fanflow.step(name="tag", version=version)
        def tag(question: str) -> dict[str, str]:
            calls.append(version)
            return {"question": question}

        settings = PipelineConfig(progress=False, store=store)
        pipeline = PipelineBuilder(settings, MockAdapter(llm)).input(topic="t")
        pipeline << questions() << tag << answer()
        return pipeline.build().execute()

    await run("1")
    await run("1")
    await run("2")
    assert calls == ["1"] * 4 + ["2"] * 4


async def test_needs_no_model_from_the_network() -> None:
    network = OpenAIAdapter("http://127.0.0.1:9/v1")  # no model=: LLM steps need set_models
    pipeline = PipelineBuilder(PipelineConfig(progress=False, store=False), network)
    pipeline.input(question="q")
    pipeline << keep_long
    pipeline.build()  # no ConfigurationError about a model


def test_bad_declarations_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="group"):
        fanflow.step(group="some")  # type: ignore[call-overload]
    with pytest.raises(ConfigurationError, match="function"):
        fanflow.step(42)  # type: ignore[call-overload]

    def two(rows: list[dict[str, Any]], other: str) -> None: ...

    with pytest.raises(ConfigurationError, match="one parameter"):
        fanflow.step(group="all")(two)
    with pytest.raises(ConfigurationError, match="return value"):
        keep_long.scatter()


def test_unbindable_parameters_fail_the_build() -> None:
    @fanflow.step
    def needs(p: str, missing: str) -> None: ...

    pipeline = builder().input(topic="t")
    pipeline << Prompt("p", "{{topic}}") << needs
    with pytest.raises(ConfigurationError, match=r"'needs'.*'missing'"):
        pipeline.build()


def test_a_group_step_cannot_come_first() -> None:
    @fanflow.step(group="all")
    def first(rows: list[dict[str, Any]]) -> None: ...

    pipeline = builder().input(topic="t")
    pipeline << first
    with pytest.raises(ConfigurationError, match="first"):
        pipeline.build()


def test_the_step_object_keeps_the_function_callable() -> None:
    assert keep_long.name == "keep_long"
    assert keep_long("a question that is long enough") == {
        "question": "a question that is long enough"
    }
    assert isinstance(keep_long, fanflow.FunctionStep)
    assert fanflow.steps.step is fanflow.step


async def test_filtering_does_not_stop_a_run_that_raises_on_errors() -> None:
    pipeline = builder(on_error="raise").input(topic="t")
    pipeline << questions() << keep_long << answer()
    result = await pipeline.build().execute()
    assert len(result.rows) == 2 and result.stats.filtered == 2


async def test_a_timed_out_function_ends_timed_out() -> None:
    import anyio

    @fanflow.step
    async def slow(question: str) -> dict[str, str]:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    pipeline = builder(task_timeout=0.01).input(question="q")
    pipeline << slow
    result = await pipeline.build().execute()
    [failure] = result.failures
    assert failure.status is TaskStatus.TIMED_OUT and "slow" in (failure.error or "")


def test_a_function_step_refuses_generation_parameters_and_tools() -> None:
    @fanflow.step
    def keep(question: str) -> dict[str, str]:
        return {"question": question}

    with pytest.raises(fanflow.ConfigurationError, match="function step"):
        keep.set_generation(temperature=0.5)
    with pytest.raises(fanflow.ConfigurationError, match="function step"):
        keep.set_tools([len])


@pytest.mark.parametrize("stored", [False, True])
async def test_a_function_step_at_the_end_gives_its_dict_as_its_column(
    tmp_path: Path, stored: bool
) -> None:
    store: Path | bool = tmp_path / "store.db" if stored else False
    made = PipelineBuilder(PipelineConfig(progress=False, store=store), MockAdapter(llm))
    made.input(topic="t")
    made << questions() << keep_long
    result = await made.build().execute()

    rows = list(result.rows)
    assert sorted(row["keep_long"]["question"] for row in rows) == sorted(
        q for q in QUESTIONS if len(q) > 20
    )
    if stored:
        (record,) = fanflow.runs(store=tmp_path / "store.db")
        reloaded = fanflow.load_run(record.name, store=tmp_path / "store.db")
        assert list(reloaded.rows) == rows


async def test_rows_of_a_run_in_memory_come_in_lineage_order_whatever_finished_first() -> None:
    @fanflow.step
    def slow(n: str) -> dict[str, str]:
        time.sleep(0.02 * (4 - int(n)))  # the last row finishes first
        return {"n": n}

    config = PipelineConfig(progress=False, store=False, concurrency=5)
    made = PipelineBuilder(config, MockAdapter(llm)).input([{"n": str(i)} for i in range(5)])
    made << slow
    result = await made.build().execute()

    assert [row["n"] for row in result.rows] == ["0", "1", "2", "3", "4"]
