"""Per-step task counts, kept by the dispatcher and shown by the progress display."""

from __future__ import annotations

from pathlib import Path

from fanflow import GenerationRequest, MockAdapter, Store
from fanflow.engine.pipeline._dispatcher import Dispatcher, DispatchSettings, StepCounts
from fanflow.engine.pipeline._plan import plan_steps
from fanflow.engine.pipeline._progress import ProgressDisplay
from fanflow.engine.pipeline._sink import ResultSink
from tests.engine.pipeline.pipeline_steps import Answer, Question, Subtopics
from tests.engine.pipeline.test_pipeline import fake_llm


async def test_the_dispatcher_counts_created_done_and_failed_tasks_per_step() -> None:
    def llm(request: GenerationRequest) -> str:
        if request.messages[-1].content == "question on a-1 in a":
            raise RuntimeError("no question today")
        return fake_llm(request)

    plans = plan_steps([Subtopics().scatter(), Question(), Answer()], {"topic"})
    sink = ResultSink(None, "run", [plan.name for plan in plans])
    rows = iter([{"topic": "a"}])
    dispatcher = Dispatcher(plans, MockAdapter(llm), DispatchSettings(concurrency=2), rows, sink)

    await dispatcher.run()

    counts = [(c.created, c.running, c.done, c.failed) for c in dispatcher.counts]
    assert counts == [(1, 0, 1, 0), (3, 0, 3, 1), (2, 0, 2, 0)]
    assert sink.collector.tasks == {"ok": 5, "failed": 1, "timed_out": 0, "skipped": 0}


def test_the_display_is_off_when_not_asked_for_or_not_on_a_terminal() -> None:
    counts = [StepCounts()]
    assert not ProgressDisplay(["a"], counts, enabled=False).enabled
    # pytest captures stderr, so this is not a terminal even when asked for.
    assert not ProgressDisplay(["a"], counts, enabled=True).enabled


async def test_the_dispatcher_counts_tasks_taken_from_the_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.db")
    plans = plan_steps([Answer()], {"question"})
    rows = [{"question": f"q{i}"} for i in range(3)]
    counts = []
    for run_id in ("first", "second"):
        sink = ResultSink(store, run_id, [plan.name for plan in plans])
        settings = DispatchSettings(concurrency=2)
        dispatcher = Dispatcher(plans, MockAdapter(fake_llm), settings, iter(rows), sink)
        await dispatcher.run()
        sink.settle()
        counts.append((dispatcher.counts[0].done, dispatcher.counts[0].cached))
    store.close()
    assert counts == [(3, 0), (3, 3)]
