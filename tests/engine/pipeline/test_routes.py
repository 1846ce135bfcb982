"""`fanflow.Route`: each input goes to some branches only (seeded, or by a function)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fanflow import (
    ConfigurationError,
    MockAdapter,
    PipelineBuilder,
    PipelineConfig,
    Route,
    StepTemplate,
    TaskResult,
    Workflow,
)
from tests.engine.pipeline.test_graph import Answer, Questions, fake_llm


class Pick(StepTemplate):
    def create_workflow(
        self, question: str, llama: str = "-", qwen: str = "-", mistral: str = "-"
    ) -> Workflow:
        return Workflow.from_prompt(
            "pick {{question}}: {{llama}} {{qwen}} {{mistral}}",
            question=question, llama=llama, qwen=qwen, mistral=mistral,
        )  # fmt: skip


def models() -> list[StepTemplate]:
    return [Answer(name=name).set_models([name]) for name in ("llama", "qwen", "mistral")]


def builder(store: Path | None = None) -> PipelineBuilder:
    config = PipelineConfig(progress=False, store=store or False)
    return PipelineBuilder(config, MockAdapter(fake_llm))


def chosen(row: dict[str, object]) -> list[str]:
    return [name for name in ("llama", "qwen", "mistral") if name in row]


async def test_a_seeded_route_sends_each_input_to_pick_branches_the_same_way_each_run(
    tmp_path: Path,
) -> None:
    runs = []
    for _ in range(2):
        pipeline = builder().input([{"topic": f"t{n}"} for n in range(4)])
        pipeline << Questions().scatter() << Route(models(), pick=1, seed=7) << Pick()
        result = await pipeline.build().execute()
        runs.append({tuple(row["_lineage"]): chosen(row) for row in result.rows})

    assert len(runs[0]) == 12
    assert all(len(names) == 1 for names in runs[0].values())
    assert runs[0] == runs[1]
    assert len({names[0] for names in runs[0].values()}) > 1  # not all to one branch
    assert sum(result.stats.steps[name]["ok"] for name in ("llama", "qwen", "mistral")) == 12


async def test_a_resumed_routed_run_sends_nothing_again(tmp_path: Path) -> None:
    requests = []
    for _ in range(2):
        pipeline = builder(tmp_path / "s.db").input([{"topic": "t1"}, {"topic": "t2"}])
        pipeline << Questions().scatter() << Route(models(), pick=2, seed=1) << Pick()
        result = await pipeline.build().execute()
        assert len(result.rows) == 6
        assert all(len(chosen(row)) == 2 for row in result.rows)
        requests.append(result.stats.requests)
    assert requests[0] > 0 and requests[1] == 0


async def test_a_route_by_a_function_names_the_branch() -> None:
    def by_question(result: TaskResult) -> str | list[str]:
        return ["llama", "qwen"] if result.result.endswith("q0)") else "mistral"

    pipeline = builder().input([{"topic": "t1"}])
    pipeline << Questions().scatter() << Answer() << Route(models(), by=by_question)
    result = await pipeline.build().execute()

    assert set(result.subsets) == {"llama", "qwen", "mistral"}
    assert len(result.subsets["llama"].rows) == 1
    assert len(result.subsets["mistral"].rows) == 2


async def test_a_route_function_naming_no_branch_fails_that_task() -> None:
    pipeline = builder().input([{"topic": "t1"}])
    pipeline << Questions().scatter() << Answer() << Route(models(), by=lambda r: "gpt")
    result = await pipeline.build().execute()

    failed = [f for f in result.failures if f.step == "answer"]
    assert len(failed) == 3 and "'gpt'" in (failed[0].error or "")


def test_a_join_after_a_route_needs_defaults_for_the_routed_branches() -> None:
    class Strict(StepTemplate):
        def create_workflow(self, question: str, llama: str, qwen: str = "") -> Workflow:
            return Workflow.from_prompt("{{question}}", question=question)

    pipeline = builder().input([{"topic": "t"}])
    pipeline << Questions().scatter() << Route(models()[:2], pick=1) << Strict()
    with pytest.raises(ConfigurationError, match=r"\['llama'\].*default"):
        pipeline.build()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({}, "pick=N"), ({"pick": 4}, "from 1 to 3"), ({"pick": 1, "by": str}, "not both")],
)
def test_a_bad_route_is_refused_when_made(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Route(models(), **kwargs)  # type: ignore[arg-type]


async def test_connect_draws_a_route_as_the_chain_does() -> None:
    chained, connected = builder(), builder()
    chained.input(topic="t")
    chained << Questions().scatter() << Route(models(), pick=1, seed=3) << Pick()
    connected.input(topic="t")
    questions, branches, pick = Questions().scatter(), models(), Pick()
    connected << questions
    connected.connect(questions, Route(branches, pick=1, seed=3))
    for branch in branches:
        connected.connect(branch, pick)

    first, second = await chained.build().execute(), await connected.build().execute()
    assert [chosen(row) for row in first.rows] == [chosen(row) for row in second.rows]


def test_a_routing_step_with_another_child_is_refused() -> None:
    made = builder()
    made.input(topic="t")
    questions, other = Questions().scatter(), Answer(name="other")
    made << questions
    made.connect(questions, Route(models(), pick=1))
    made.connect(questions, other)
    with pytest.raises(ConfigurationError, match="leads only to its Route's steps"):
        made.build()
