"""Each task's workflow: a step's params and tools reach every task, run after run."""

from __future__ import annotations

from pathlib import Path

from fanflow import GenerationRequest, MockAdapter, PipelineBuilder, PipelineConfig, Prompt


def look_up(city: str) -> str:
    """Look up a city's weather."""
    return f"sunny in {city}"


async def run(step: Prompt, adapter: MockAdapter, store: Path) -> None:
    builder = PipelineBuilder(PipelineConfig(store=store, progress=False), adapter)
    builder.input([{"word": word} for word in ("a", "b", "c")])
    builder << step
    result = await builder.build().execute()
    assert result.stats.tasks.get("ok") == 3


async def test_a_prompt_steps_limits_reach_each_task_and_a_change_the_next_run(
    tmp_path: Path,
) -> None:
    # A Prompt's tasks share one config, so the step's own is made once: a change to
    # the step's params must still show in the next run's requests (and keys).
    step = Prompt("say", "Say {{word}}").set_workflow_params(max_tokens=40)
    adapter = MockAdapter(lambda request: "ok")
    await run(step, adapter, tmp_path / "store.db")
    step.set_workflow_params(max_tokens=50)
    await run(step, adapter, tmp_path / "store.db")
    step.workflow_params["max_tokens"] = 60  # changed in place
    await run(step, adapter, tmp_path / "store.db")
    step.set_workflow_params(max_tokens=40)  # as in the first run: its results are reused
    await run(step, adapter, tmp_path / "store.db")
    assert [request.max_tokens for request in adapter.requests] == [40] * 3 + [50] * 3 + [60] * 3


async def test_a_prompt_steps_tools_and_limits_reach_each_task(tmp_path: Path) -> None:
    seen: list[GenerationRequest] = []

    def answer(request: GenerationRequest) -> str:
        seen.append(request)
        return "ok"

    step = Prompt("say", "Say {{word}}").set_tools([look_up]).set_workflow_params(max_tokens=9)
    await run(step, MockAdapter(answer), tmp_path / "store.db")
    assert [request.max_tokens for request in seen] == [9, 9, 9]
    step.set_tools([])
    await run(step, MockAdapter(answer), tmp_path / "store.db")  # other tools: other keys
    assert len(seen) == 6
