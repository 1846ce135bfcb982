"""Pipelines as graphs: branches, joins, several leaves, `connect` (driven by MockAdapter)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import datasets
import orjson
import pytest

from fanflow import (
    ConfigurationError,
    GenerationRequest,
    MockAdapter,
    PipelineBuilder,
    PipelineConfig,
    StepTemplate,
    TaskStatus,
    Workflow,
    load_run,
)
from tests.branch_steps import Answer, Judge, Questions


class LenientJudge(StepTemplate):
    def create_workflow(self, question: str, llama: str, qwen: str = "(none)") -> Workflow:
        return Workflow.from_prompt(
            "judge {{question}}: {{llama}} | {{qwen}}", question=question, llama=llama, qwen=qwen
        )


def fake_llm(request: GenerationRequest) -> str:
    prompt = request.messages[-1].content
    if match := re.fullmatch(r"questions on (.+)", prompt):
        return orjson.dumps([f"{match[1]}-q{n}" for n in range(3)]).decode()
    if match := re.fullmatch(r"answer (.+)", prompt):
        if "FAIL" in match[1] and request.model == "qwen":
            raise RuntimeError("qwen is down")
        return f"{request.model}:A({match[1]})"
    return f"verdict[{prompt}]"


def builder(tmp_path: Path | None = None, **config: object) -> PipelineBuilder:
    store = False if tmp_path is None else str(tmp_path / "store.db")
    settings = PipelineConfig(progress=False, store=store, **config)  # type: ignore[arg-type]
    return PipelineBuilder(settings, MockAdapter(fake_llm))


def branches() -> list[StepTemplate]:
    return [
        Answer(name="llama").set_models(["llama"]),
        Answer(name="qwen").set_models(["qwen"]),
    ]


async def test_branches_then_join_bind_each_branch_by_name() -> None:
    pipeline = builder().input([{"topic": "t1"}, {"topic": "t2"}])
    pipeline << Questions().scatter() << branches() << Judge()
    result = await pipeline.build().execute()

    rows = sorted(result.rows, key=lambda r: r["_lineage"])
    assert len(rows) == 6
    first = rows[0]
    assert first["question"] == "t1-q0"
    assert first["llama"] == "llama:A(t1-q0)"
    assert first["qwen"] == "qwen:A(t1-q0)"
    assert first["judge"] == "verdict[judge t1-q0: llama:A(t1-q0) | qwen:A(t1-q0)]"
    assert result.stats.steps["judge"]["ok"] == 6


async def test_a_failed_branch_skips_its_join_task_naming_the_branch() -> None:
    pipeline = builder().input([{"topic": "FAIL"}])
    pipeline << Questions().scatter() << branches() << Judge()
    result = await pipeline.build().execute()

    assert len(result.rows) == 0
    skipped = [f for f in result.failures if f.step == "judge"]
    assert len(skipped) == 3
    assert all(f.status == TaskStatus.SKIPPED for f in skipped)
    assert "qwen" in (skipped[0].error or "") and "qwen is down" in (skipped[0].error or "")


async def test_a_failed_branch_gives_the_join_its_default() -> None:
    pipeline = builder().input([{"topic": "FAIL"}])
    pipeline << Questions().scatter() << branches() << LenientJudge(name="judge")
    result = await pipeline.build().execute()

    assert len(result.rows) == 3
    assert all("| (none)]" in row["judge"] for row in result.rows)


async def test_several_leaves_make_subsets(tmp_path: Path) -> None:
    pipeline = builder(tmp_path).input([{"topic": "t1"}])
    pipeline << Questions().scatter() << branches()
    result = await pipeline.build().execute()

    assert set(result.subsets) == {"llama", "qwen"}
    assert len(result.subsets["qwen"].rows) == 3
    assert {row["qwen"] for row in result.subsets["qwen"].rows} == {
        f"qwen:A(t1-q{n})" for n in range(3)
    }
    with pytest.raises(ConfigurationError, match=r"result\.subsets\["):
        result.rows  # noqa: B018
    dataset = result.to_dataset()
    assert isinstance(dataset, datasets.DatasetDict)
    assert set(dataset) == {"llama", "qwen"}
    assert dataset["llama"].num_rows == 3
    saved = result.subsets["llama"].save(tmp_path / "llama.jsonl")
    assert len(saved.read_text().splitlines()) == 3

    loaded = load_run(result.run_name or "", store=tmp_path / "store.db")
    assert set(loaded.subsets) == {"llama", "qwen"}
    assert len(loaded.subsets["llama"].rows) == 3


async def test_a_rerun_of_branches_resumes_from_the_store(tmp_path: Path) -> None:
    first = builder(tmp_path).input([{"topic": "t1"}])
    first << Questions().scatter() << branches() << Judge()
    await first.build().execute()
    again = builder(tmp_path).input([{"topic": "t1"}])
    again << Questions().scatter() << branches() << Judge()
    result = await again.build().execute()

    assert result.stats.requests == 0
    assert len(result.rows) == 3


async def test_connect_declares_a_skip_edge() -> None:
    class Improve(StepTemplate):
        def create_workflow(self, question: str, answer: str) -> Workflow:
            return Workflow.from_prompt("improve {{question}} {{answer}}", question=question,
                                        answer=answer)  # fmt: skip

    questions, answer, improve = Questions().scatter(), Answer(), Improve()
    pipeline = builder().input([{"topic": "t1"}])
    pipeline << questions << answer << improve
    pipeline.connect(questions, improve)
    result = await pipeline.build().execute()

    assert len(result.rows) == 3
    assert result.rows[0]["improve"].startswith("verdict[improve t1-q")


def test_build_refuses_a_cycle_a_duplicate_and_a_stranger() -> None:
    questions, answer = Questions().scatter(), Answer()
    cyclic = builder().input([{"topic": "t"}])
    cyclic << questions << answer
    cyclic.connect(answer, questions)
    with pytest.raises(ConfigurationError, match="cycle"):
        cyclic.build()

    twice = builder().input([{"topic": "t"}])
    twice << Questions().scatter() << [Answer(), Answer()]
    with pytest.raises(ConfigurationError, match="two steps are named 'answer'"):
        twice.build()

    stranger = builder().input([{"topic": "t"}])
    stranger << questions
    with pytest.raises(ConfigurationError, match="not in this pipeline"):
        stranger.connect(Answer(), questions)


def test_build_refuses_a_join_whose_parameters_no_branch_binds() -> None:
    class Needy(StepTemplate):
        def create_workflow(self, question: str, llama: str, mistral: str) -> Workflow:
            return Workflow.from_prompt("{{question}}", question=question)

    pipeline = builder().input([{"topic": "t"}])
    pipeline << Questions().scatter() << branches() << Needy()
    with pytest.raises(ConfigurationError, match="mistral"):
        pipeline.build()


async def test_a_join_waits_only_for_its_own_upstream_task() -> None:
    judged_t1 = asyncio.Event()

    async def handler(request: GenerationRequest) -> str:
        prompt = request.messages[-1].content
        if prompt.startswith("answer t2"):
            await judged_t1.wait()  # t2's branches answer only once a t1 join task ran
        if prompt.startswith("judge t1"):
            judged_t1.set()
        return fake_llm(request)

    config = PipelineConfig(progress=False, store=False, concurrency=8)
    pipeline = PipelineBuilder(config, MockAdapter(handler)).input(
        [{"topic": "t1"}, {"topic": "t2"}]
    )
    pipeline << Questions().scatter() << branches() << Judge()
    result = await asyncio.wait_for(pipeline.build().execute(), timeout=60)

    assert len(result.rows) == 6


async def test_subsets_of_a_run_kept_in_memory() -> None:
    pipeline = builder().input([{"topic": "t1"}])
    pipeline << Questions().scatter() << branches()
    result = await pipeline.build().execute()

    assert [len(subset.rows) for subset in result.subsets.values()] == [3, 3]
    assert result.subsets["llama"].failures == []


def test_a_pipeline_cannot_start_with_branches() -> None:
    with pytest.raises(ConfigurationError, match="starts with one step"):
        builder() << branches()


async def test_a_budget_stop_skips_the_joins_of_skipped_branches() -> None:
    config = PipelineConfig(progress=False, store=False, concurrency=1, max_tokens_total=1)
    pipeline = PipelineBuilder(config, MockAdapter(fake_llm)).input([{"topic": "t1"}])
    pipeline << Questions().scatter() << branches() << Judge()
    result = await pipeline.build().execute()

    assert result.stats.stopped is not None
    assert result.stats.steps["judge"]["skipped"] == 3
    assert all(f.status == TaskStatus.SKIPPED for f in result.failures)


async def test_connect_adds_a_third_branch_that_meets_a_later_join() -> None:
    class Final(StepTemplate):
        def create_workflow(self, question: str, judge: str, mistral: str) -> Workflow:
            return Workflow.from_prompt("final {{judge}} / {{mistral}}", question=question,
                                        judge=judge, mistral=mistral)  # fmt: skip

    questions, mistral, final = Questions().scatter(), Answer(name="mistral"), Final()
    pipeline = builder().input([{"topic": "t1"}, {"topic": "FAIL"}])
    pipeline << questions << branches() << Judge() << final
    pipeline.connect(questions, mistral).connect(mistral, final)
    result = await pipeline.build().execute()

    assert result.stats.steps["final"] == {"ok": 3, "skipped": 3}
    row = sorted(result.rows, key=lambda r: r["_lineage"])[0]
    assert row["final"] == f"verdict[final {row['judge']} / {row['mistral']}]"
    skipped = [f for f in result.failures if f.step == "final"]
    assert "branch 'judge' gave no result" in (skipped[0].error or "")
