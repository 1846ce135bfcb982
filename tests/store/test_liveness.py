"""A run whose process dies without recording its end reads as interrupted, not running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fanflow import Store, load_run, runs

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX only")

# A pipeline whose every call takes a minute: it is surely running when it is killed.
_SLOW_RUN = textwrap.dedent(
    """
    import sys
    from fanflow import MockAdapter, PipelineBuilder, PipelineConfig
    from tests.engine.pipeline.pipeline_steps import Answer

    def answer(request):
        return "forty-two"

    config = PipelineConfig(store=sys.argv[1], run_name="doomed", progress=False)
    pipeline = PipelineBuilder(config, MockAdapter(answer, latency=60.0))
    pipeline.input(question="why?")
    pipeline << Answer()
    pipeline.build().run()
    """
)


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


@pytest.fixture
def running(store_path: Path) -> Iterator[subprocess.Popen[str]]:
    """A child process in the middle of the run 'doomed'."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    child = subprocess.Popen(
        [sys.executable, "-c", _SLOW_RUN, str(store_path)],
        env=env,
        text=True,
    )
    try:
        _wait_until_recorded(store_path, child)
        yield child
    finally:
        child.kill()
        child.wait()


def _wait_until_recorded(store_path: Path, child: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert child.poll() is None, "the slow run ended before it could be killed"
        if store_path.exists() and [r.name for r in runs(store_path)] == ["doomed"]:
            return
        time.sleep(0.05)
    raise AssertionError("the slow run never recorded itself")


def test_a_live_run_in_another_process_reads_as_running(
    store_path: Path, running: subprocess.Popen[str]
) -> None:
    assert [r.status for r in runs(store_path)] == ["running"]


def test_a_run_killed_outright_reads_as_interrupted(
    store_path: Path, running: subprocess.Popen[str]
) -> None:
    running.send_signal(signal.SIGKILL)
    running.wait()

    assert [r.status for r in runs(store_path)] == ["interrupted"]
    assert load_run("doomed", store_path).stats.tasks == {}
    # Recorded as such, so a reader without the lock folder agrees.
    assert Store(store_path).find_run("doomed").status == "interrupted"
    assert not any((store_path.parent / "store.db.locks").iterdir())


def test_a_run_of_this_process_reads_as_running_until_it_finishes(store_path: Path) -> None:
    store = Store(store_path)
    store.start_run("id-1", "mine", "fp", {}, ["a"])
    assert Store(store_path).find_run("mine").status == "running"

    store.finish_run("id-1", "ok", {})
    assert Store(store_path).find_run("mine").status == "ok"
    assert not any((store_path.parent / "store.db.locks").iterdir())
    store.close()
