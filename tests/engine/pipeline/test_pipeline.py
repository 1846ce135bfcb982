"""PipelineBuilder, binding, callbacks in a run, statuses, results (driven by MockAdapter)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import orjson
import pytest

from fanflow import (
    ConfigurationError,
    ExecutionError,
    GenerationRequest,
    MockAdapter,
    PipelineBuilder,
    PipelineConfig,
    StepFailed,
    StepOutput,
    StepTemplate,
    TaskInput,
    TaskStatus,
    Workflow,
)
from tests.engine.pipeline.pipeline_steps import Answer, Question, Subtopics, Summary

QUIET = PipelineConfig(progress=False)


def fake_llm(request: GenerationRequest) -> str:
    """Deterministic answers keyed on the prompt shapes of `pipeline_steps`."""
    prompt = request.messages[-1].content
    if match := re.fullmatch(r"subtopics of (.+)", prompt):
        return orjson.dumps([f"{match[1]}-{n}" for n in range(3)]).decode()
    if match := re.fullmatch(r"question on (.+) in (.+)", prompt):
        return f"Q({match[1]})"
    if match := re.fullmatch(r"answer (.+)", prompt):
        return f"A({match[1]})"
    return f"S({len(prompt.splitlines())})"


def builder(adapter: MockAdapter, **config: Any) -> PipelineBuilder:
    return PipelineBuilder(PipelineConfig(progress=False, **config), adapter)


async def test_qa_rows_keep_every_ancestor_field() -> None:
    pipeline = builder(MockAdapter(fake_llm)).input([{"topic": "t1"}, {"topic": "t2"}])
    pipeline << Subtopics().scatter() << Question() << Answer()
    result = await pipeline.build().execute()

    rows = sorted(result.rows, key=lambda r: r["_lineage"])
    assert len(rows) == 6
    assert rows[0]["topic"] == "t1"
    assert rows[0]["subtopic"] == "t1-0"
    assert rows[0]["question"] == "Q(t1-0)"
    assert rows[0]["answer"] == "A(Q(t1-0))"
    assert rows[0]["_lineage"] == [0, 0, 0]
    assert {r["subtopic"] for r in rows} == {f"t{i}-{n}" for i in (1, 2) for n in range(3)}


async def test_scatter_uses_every_result_not_only_the_first() -> None:
    pipeline = builder(MockAdapter(fake_llm)).input([{"topic": f"t{i}"} for i in range(4)])
    pipeline << Subtopics().scatter() << Question()
    result = await pipeline.build().execute()
    assert len(result.rows) == 12
    assert len({tuple(r["_lineage"]) for r in result.rows}) == 12


async def test_create_workflow_gets_the_real_inputs() -> None:
    seen: list[dict[str, Any]] = []

    class Recording(Question):
        def create_workflow(self, topic: str, subtopic: str) -> Workflow:
            seen.append({"topic": topic, "subtopic": subtopic})
            return super().create_workflow(topic, subtopic)

    # preflight=False: build() would otherwise try create_workflow once with placeholders
    pipeline = builder(MockAdapter(fake_llm), preflight=False).input(topic="physics")
    pipeline << Subtopics().scatter() << Recording()
    await pipeline.build().execute()
    assert sorted(s["subtopic"] for s in seen) == ["physics-0", "physics-1", "physics-2"]
    assert all(s["topic"] == "physics" for s in seen)


async def test_a_non_list_scatter_fails_that_task_only() -> None:
    def llm(request: GenerationRequest) -> str:
        if request.messages[-1].content == "subtopics of bad":
            return "I cannot list anything"
        return fake_llm(request)

    pipeline = builder(MockAdapter(llm)).input([{"topic": "good"}, {"topic": "bad"}])
    pipeline << Subtopics().scatter() << Question()
    result = await pipeline.build().execute()

    assert len(result.rows) == 3
    [failure] = result.failures
    assert failure.status is TaskStatus.FAILED
    assert failure.step == "subtopics"
    assert "subtopics/1" in failure.error
    assert "I cannot list anything" in failure.error


async def test_failures_are_recorded_with_reasons_and_the_run_goes_on() -> None:
    def llm(request: GenerationRequest) -> str:
        if "t1-1" in request.messages[-1].content:
            raise RuntimeError("model crashed")
        return fake_llm(request)

    pipeline = builder(MockAdapter(llm)).input(topic="t1")
    pipeline << Subtopics().scatter() << Question()
    result = await pipeline.build().execute()

    assert len(result.rows) == 2
    [failure] = result.failures
    assert "model crashed" in (failure.error or "")
    assert result.stats.tasks == {"ok": 3, "failed": 1, "timed_out": 0, "skipped": 0}


async def test_on_error_raise_stops_the_run() -> None:
    def llm(request: GenerationRequest) -> str:
        raise RuntimeError("boom")

    pipeline = builder(MockAdapter(llm), on_error="raise").input(topic="t")
    pipeline << Subtopics()
    with pytest.raises(StepFailed, match="boom"):
        await pipeline.build().execute()


async def test_a_task_past_its_timeout_is_timed_out() -> None:
    never = asyncio.Event()

    async def llm(request: GenerationRequest) -> str:
        if "slow" in request.messages[-1].content:
            await never.wait()
        return fake_llm(request)

    pipeline = builder(MockAdapter(llm), task_timeout=0.05)
    pipeline.input([{"topic": "slow"}, {"topic": "fast"}])
    pipeline << Subtopics()
    result = await pipeline.build().execute()
    [failure] = result.failures
    assert failure.status is TaskStatus.TIMED_OUT
    assert "0.05" in (failure.error or "")
    assert len(result.rows) == 1


async def test_aggregate_groups_results_by_input_row() -> None:
    pipeline = builder(MockAdapter(fake_llm)).input([{"topic": "t1"}, {"topic": "t2"}])
    pipeline << Subtopics().scatter() << Question() << Answer().aggregate() << Summary()
    result = await pipeline.build().execute()

    assert len(result.rows) == 2
    by_topic = {row["topic"]: row for row in result.rows}
    assert by_topic["t1"]["summary"] == "S(3)"
    assert sorted(by_topic["t1"]["answer"]) == [f"A(Q(t1-{n}))" for n in range(3)]


async def test_aggregate_hands_results_over_in_lineage_order_not_finishing_order() -> None:
    async def later_answers_first(request: GenerationRequest) -> str:
        prompt = request.messages[-1].content
        if prompt.startswith("answer"):
            await asyncio.sleep(0.01 * (3 - int(prompt[-2])))  # "answer Q(t1-N)"
        return fake_llm(request)

    pipeline = builder(MockAdapter(later_answers_first)).input(topic="t1")
    pipeline << Subtopics().scatter() << Question() << Answer().aggregate() << Summary()
    [row] = (await pipeline.build().execute()).rows
    assert row["answer"] == [f"A(Q(t1-{n}))" for n in range(3)]


async def test_aggregate_by_all_gathers_the_whole_step() -> None:
    pipeline = builder(MockAdapter(fake_llm)).input([{"topic": "t1"}, {"topic": "t2"}])
    pipeline << Subtopics().scatter() << Question() << Answer().aggregate(by="all") << Summary()
    result = await pipeline.build().execute()
    [row] = result.rows
    assert len(row["answer"]) == 6
    assert row["summary"] == "S(6)"


async def test_custom_callback_sees_the_whole_step_as_in_dria() -> None:
    class Pick(Subtopics):
        def callback(self, step: StepOutput) -> list[TaskInput]:
            texts = [item for r in step.output for item in orjson.loads(r.result)]
            return [TaskInput(question=text) for text in sorted(texts)[:2]]

    pipeline = builder(MockAdapter(fake_llm)).input([{"topic": "a"}, {"topic": "b"}])
    pipeline << Pick(name="pick").custom() << Answer()
    result = await pipeline.build().execute()
    assert sorted(r["answer"] for r in result.rows) == ["A(a-0)", "A(a-1)"]


async def test_broadcast_with_models_gives_one_task_per_model() -> None:
    seen: list[str | None] = []

    def llm(request: GenerationRequest) -> str:
        seen.append(request.model)
        return fake_llm(request)

    pipeline = builder(MockAdapter(llm)).input(topic="t")
    pipeline << Subtopics().broadcast(2) << Answer().set_models(["m1", "m2"])
    pipeline_result = await pipeline.build().execute()
    assert sorted(m for m in seen if m) == ["m1", "m2"]
    assert len(pipeline_result.rows) == 2


async def test_workflow_params_reach_the_request() -> None:
    seen: list[int | None] = []

    def llm(request: GenerationRequest) -> str:
        seen.append(request.max_tokens)
        return fake_llm(request)

    pipeline = builder(MockAdapter(llm)).input(topic="t")
    pipeline << Subtopics().set_workflow_params(max_tokens=77)
    await pipeline.build().execute()
    assert seen == [77]


async def test_a_deep_step_binds_the_root_rows_field() -> None:
    class NeedsTopic(StepTemplate):
        def create_workflow(self, answer: str, topic: str) -> Workflow:
            return Workflow.from_prompt(
                "check {{answer}} for {{topic}}", answer=answer, topic=topic
            )

    pipeline = builder(MockAdapter(fake_llm)).input(topic="root-topic")
    pipeline << Subtopics().scatter() << Question() << Answer() << NeedsTopic()
    result = await pipeline.build().execute()
    assert all(row["topic"] == "root-topic" for row in result.rows)
    assert len(result.rows) == 3


def test_an_unbindable_parameter_fails_at_build_before_any_request() -> None:
    class NeedsPersona(StepTemplate):
        def create_workflow(self, question: str, persona: str) -> Workflow:
            return Workflow.from_prompt(
                "{{question}} {{persona}}", question=question, persona=persona
            )

    adapter = MockAdapter(fake_llm)
    pipeline = builder(adapter).input(topic="t")
    pipeline << Subtopics().scatter() << Question() << NeedsPersona()
    with pytest.raises(ConfigurationError, match="persona"):
        pipeline.build()
    assert adapter.calls == 0


def test_an_ambiguous_scatter_asks_for_a_key() -> None:
    class TwoFree(StepTemplate):
        def create_workflow(self, left: str, right: str) -> Workflow:
            return Workflow.from_prompt("{{left}} {{right}}", left=left, right=right)

    pipeline = builder(MockAdapter(fake_llm)).input(topic="t")
    pipeline << Subtopics().scatter() << TwoFree()
    with pytest.raises(ConfigurationError, match=r"key="):
        pipeline.build()


async def test_scatter_key_names_the_parameter() -> None:
    class TwoFree(StepTemplate):
        def create_workflow(self, left: str, right: str = "R") -> Workflow:
            return Workflow.from_prompt("answer {{left}}/{{right}}", left=left, right=right)

    pipeline = builder(MockAdapter(fake_llm)).input(topic="t")
    pipeline << Subtopics().scatter(key="left") << TwoFree()
    result = await pipeline.build().execute()
    assert sorted(r["left"] for r in result.rows) == ["t-0", "t-1", "t-2"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: PipelineBuilder(QUIET, None).input(topic="t"), "network"),
        (lambda: PipelineBuilder(QUIET, MockAdapter(fake_llm)), "input"),
        (lambda: PipelineBuilder(QUIET, MockAdapter(fake_llm)).input(topic="t"), "no steps"),
    ],
)
def test_incomplete_builders_say_what_is_missing(make: Any, message: str) -> None:
    pipeline = make()
    if message != "no steps":
        pipeline << Subtopics()
    with pytest.raises(ConfigurationError, match=message):
        pipeline.build()


def test_two_steps_with_one_name_are_refused() -> None:
    pipeline = builder(MockAdapter(fake_llm)).input(topic="t")
    pipeline << Subtopics() << Subtopics()
    with pytest.raises(ConfigurationError, match="named 'subtopics'"):
        pipeline.build()


async def test_run_refuses_inside_a_running_loop() -> None:
    pipeline = builder(MockAdapter(fake_llm)).input(topic="t")
    pipeline << Subtopics()
    with pytest.raises(ExecutionError, match=r"await pipeline\.execute"):
        pipeline.build().run()


def test_run_works_from_a_script() -> None:
    pipeline = builder(MockAdapter(fake_llm)).input(topic="t")
    pipeline << Subtopics()
    result = pipeline.build().run()
    assert result.rows[0]["subtopics"] == '["t-0","t-1","t-2"]'


async def test_dry_run_sends_one_row_through_every_step_once() -> None:
    adapter = MockAdapter(fake_llm)
    pipeline = builder(adapter).input([{"topic": "t1"}, {"topic": "t2"}])
    pipeline << Subtopics().scatter() << Question() << Answer()
    result = await pipeline.build().dry_run()
    assert adapter.calls == 3
    assert len(result.rows) == 1
    assert result.rows[0]["topic"] == "t1"


async def test_stats_count_tokens_and_requests() -> None:
    pipeline = builder(MockAdapter(fake_llm)).input(topic="t")
    pipeline << Subtopics().scatter() << Question()
    result = await pipeline.build().execute()
    assert result.stats.requests == 4
    assert result.stats.usage.prompt_tokens > 0
    assert result.stats.steps == {"subtopics": {"ok": 1}, "question": {"ok": 3}}
    assert [len(s.results) for s in result.steps.values()] == [1, 3]


async def test_a_users_own_callback_subclass_drives_the_next_step() -> None:
    from fanflow.callbacks import Callback

    class EveryOther(Callback):
        """Streaming: keeps the subtopics at even positions."""

        def map(self, result: Any) -> list[TaskInput]:
            items = orjson.loads(result.result)[::2]
            return [TaskInput(subtopic=item) for item in items]

    class Count(Callback):
        """Barrier: one input per input row, holding how many questions it got."""

        def reduce(self, results: list[Any]) -> TaskInput:
            return TaskInput(question=f"{len(results)} questions")

    pipeline = builder(MockAdapter(fake_llm)).input([{"topic": "a"}, {"topic": "b"}])
    pipeline << Subtopics().then(EveryOther()) << Question().then(Count()) << Answer()
    result = await pipeline.build().execute()
    assert [r["answer"] for r in result.rows] == ["A(2 questions)", "A(2 questions)"]
    assert len(result.steps["question"].results) == 4


def test_then_refuses_what_is_not_a_callback() -> None:
    with pytest.raises(ConfigurationError, match="Callback"):
        Subtopics().then(lambda result: result)  # type: ignore[arg-type]


async def test_a_callback_handed_to_then_is_never_changed_by_the_pipeline() -> None:
    from fanflow.callbacks import Scatter

    mine = Scatter()
    pipeline = builder(MockAdapter(fake_llm)).input(topic="a")
    pipeline << Subtopics().then(mine) << Answer()  # its target is inferred: `question`

    result = await pipeline.build().execute()

    assert [r["answer"] for r in result.rows] == ["A(a-0)", "A(a-1)", "A(a-2)"]
    assert (mine.key, mine.target) == (None, None)
