"""`fanflow runs show` gives each step's durations and request latency percentiles
(issue #17), computed by `fanflow.store.step_timings` from the stored task timings."""

from __future__ import annotations

from pathlib import Path

import pytest

from fanflow import MockAdapter, PipelineBuilder, PipelineConfig, load_run
from fanflow.store import step_timings
from tests.test_cli import Draft, Ideas, answerer, cli

LATENCY = 0.01


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "s.db"
    config = PipelineConfig(progress=False, store=path, run_name="timed", retry=None)
    adapter = MockAdapter(answerer(fail=False), latency=LATENCY)
    builder = PipelineBuilder(config, adapter).input([{"seed": "s1"}, {"seed": "s2"}])
    builder << Ideas().scatter() << Draft()
    builder.build().run()
    return path


def test_runs_show_has_a_timings_table_per_step(store: Path) -> None:
    code, output = cli(store, "runs", "show", "timed")
    assert code == 0, output
    assert "Timings" in output
    header = next(line for line in output.splitlines() if "p95" in line)
    for column in ("step", "wall", "task time", "p50", "p95", "max", "attempts"):
        assert column in header
    draft = next(line for line in output.splitlines() if " draft " in line and "ms" in line)
    # 4 tasks, one attempt each, the mock's latency of 10 ms each.
    assert "10ms" in draft.split() and draft.split()[-2:] == ["4", "1"]


def test_step_timings_of_results_match_the_stored_ones(store: Path) -> None:
    run = load_run("timed", store)
    timings = step_timings([*run.steps["ideas"].results, *run.steps["draft"].results])
    assert list(timings) == ["ideas", "draft"]
    draft = timings["draft"]
    assert (draft.tasks, draft.requested, draft.attempts, draft.max_attempts) == (4, 4, 4, 1)
    assert draft.latency_p50 == draft.latency_p95 == draft.latency_max == LATENCY
    assert draft.wall > 0 and draft.task_time > 0
    assert draft.first_queued >= timings["ideas"].first_queued
