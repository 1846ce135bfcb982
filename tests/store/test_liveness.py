"""A run whose process dies without recording its end reads as interrupted, not running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from fanflow import Store, load_run, runs

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX only")

# A pipeline whose every call takes a minute: it is surely running when it is killed. It
# says "asked" when its model is first asked, by which time the run is recorded.
_SLOW_RUN = textwrap.dedent(
    """
    import asyncio, sys
    from fanflow import MockAdapter, PipelineBuilder, PipelineConfig
    from tests.engine.pipeline.pipeline_steps import Answer

    async def answer(request):
        print("asked", flush=True)
        await asyncio.sleep(60)
        return "forty-two"

    config = PipelineConfig(store=sys.argv[1], run_name="doomed", progress=False)
    pipeline = PipelineBuilder(config, MockAdapter(answer))
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
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "asked\n", "the slow run ended before its request"
        yield child
    finally:
        child.kill()
        child.communicate()  # reaps it and closes its stdout


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
