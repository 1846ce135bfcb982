"""The collector is tuned only while runs last, and restored after the last one."""

from __future__ import annotations

import asyncio
import gc

from fanflow import GenerationRequest, MockAdapter, PipelineBuilder, PipelineConfig, Prompt
from fanflow.engine.pipeline._gc import YOUNG_THRESHOLD, relaxed_gc


def test_threshold_is_raised_during_runs_and_restored_after_the_last() -> None:
    before = gc.get_threshold()
    with relaxed_gc():
        assert gc.get_threshold()[0] == max(before[0], YOUNG_THRESHOLD)
        assert gc.get_freeze_count() > 0
        with relaxed_gc():  # a second concurrent run
            pass
        assert gc.get_threshold()[0] == max(before[0], YOUNG_THRESHOLD)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_disabled_leaves_the_collector_alone() -> None:
    before = gc.get_threshold()
    with relaxed_gc(enabled=False):
        assert gc.get_threshold() == before
        assert gc.get_freeze_count() == 0


def _collector_seen_by_the_model(tune_gc: bool | None, sync: bool) -> list[tuple[int, int]]:
    """(young threshold, frozen objects) as seen from inside each LLM call of a run."""
    seen: list[tuple[int, int]] = []

    def llm(request: GenerationRequest) -> str:
        seen.append((gc.get_threshold()[0], gc.get_freeze_count()))
        return "ok"

    config = PipelineConfig(progress=False, store=False, tune_gc=tune_gc)
    builder = PipelineBuilder(config, MockAdapter(llm)).input(topic="x")
    pipeline = (builder << Prompt("say", "say {{topic}}")).build()
    if sync:
        pipeline.run()
    else:
        asyncio.run(pipeline.execute())
    return seen


def test_execute_leaves_the_collector_alone_unless_asked() -> None:
    before = gc.get_threshold()[0]
    assert _collector_seen_by_the_model(None, sync=False) == [(before, 0)]
    assert _collector_seen_by_the_model(True, sync=False)[0][0] == max(before, YOUNG_THRESHOLD)
    assert gc.get_threshold()[0] == before


def test_run_from_a_script_tunes_the_collector_unless_told_not_to() -> None:
    before = gc.get_threshold()[0]
    tuned, frozen = _collector_seen_by_the_model(None, sync=True)[0]
    assert (tuned, frozen > 0) == (max(before, YOUNG_THRESHOLD), True)
    assert _collector_seen_by_the_model(False, sync=True) == [(before, 0)]
    assert (gc.get_threshold()[0], gc.get_freeze_count()) == (before, 0)
