"""Ctrl-C and cancellation: requests already sent are answered and saved before stopping.

The first Ctrl-C in `run()` (and cancelling `execute(drain=...)`) stops dispatching new
tasks, lets the requests in flight finish for `drain` seconds, saves their answers, then
stops; a second one stops at once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fanflow import (
    GenerationRequest,
    MockAdapter,
    PipelineBuilder,
    PipelineConfig,
    load_run,
)
from fanflow.testing import MockServerProcess
from tests.engine.pipeline.pipeline_steps import Answer
from tests.engine.pipeline.request_log import LOG_VARIABLE, logged

ROWS = 40
CONCURRENCY = 8


class Gate:
    """A model that holds every request until `open()`; `arrived(n)` waits for n requests."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.prompts: list[str] = []
        self._arrivals: list[tuple[int, asyncio.Event]] = []

    def arrived(self, count: int) -> asyncio.Event:
        event = asyncio.Event()
        self._arrivals.append((count, event))
        return event

    async def __call__(self, request: GenerationRequest) -> str:
        self.prompts.append(request.messages[-1].content)
        for count, event in self._arrivals:
            if len(self.prompts) >= count:
                event.set()
        await self.opened.wait()
        return "answered"


def _pipeline(model: Gate, run_name: str) -> PipelineBuilder:
    config = PipelineConfig(concurrency=CONCURRENCY, progress=False, run_name=run_name)
    builder = PipelineBuilder(config, MockAdapter(model))
    builder.input([{"question": f"q{i}"} for i in range(ROWS)])
    builder << Answer()
    return builder


async def test_a_cancelled_execute_with_drain_saves_the_answers_in_flight() -> None:
    model = Gate()
    run = asyncio.create_task(_pipeline(model, "drained").build().execute(drain=30.0))
    await asyncio.wait_for(model.arrived(CONCURRENCY).wait(), 30)
    run.cancel()
    await asyncio.sleep(0)  # the run sees the cancellation while its requests wait
    model.opened.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(run, 30)

    stats = load_run("drained").stats
    assert stats.steps["answer"].get("ok") == CONCURRENCY  # every request in flight, saved
    assert len(model.prompts) == CONCURRENCY  # and nothing new was sent


async def test_a_second_cancel_stops_at_once() -> None:
    model = Gate()  # never opened: the requests in flight never finish
    run = asyncio.create_task(_pipeline(model, "stopped").build().execute(drain=600.0))
    await asyncio.wait_for(model.arrived(CONCURRENCY).wait(), 30)
    run.cancel()
    await asyncio.sleep(0)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(run, 30)
    assert load_run("stopped").stats.steps["answer"].get("ok", 0) == 0


async def test_execute_without_drain_stops_at_once() -> None:
    model = Gate()
    run = asyncio.create_task(_pipeline(model, "plain").build().execute())
    await asyncio.wait_for(model.arrived(CONCURRENCY).wait(), 30)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(run, 30)


# The run of the Ctrl-C test: one prompt per row against the server given on the command line.
_RUN = textwrap.dedent(
    f"""
    import sys
    from fanflow import OpenAIAdapter, PipelineBuilder, PipelineConfig
    from tests.engine.pipeline.pipeline_steps import Answer

    config = PipelineConfig(
        store=sys.argv[2], run_name=sys.argv[3], concurrency={CONCURRENCY}, progress=False,
        drain=60.0,
    )
    builder = PipelineBuilder(config, OpenAIAdapter(sys.argv[1], model="mock-model"))
    builder.input([{{"question": f"q{{i}}"}} for i in range({ROWS})])
    builder << Answer()
    builder.build().run()
    """
)


def _start_run(server: MockServerProcess, store: Path, name: str) -> subprocess.Popen[bytes]:
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": str(root)}
    command = [sys.executable, "-c", _RUN, server.base_url, str(store), name]
    return subprocess.Popen(command, env=env, stderr=subprocess.PIPE)


def _wait_for_requests(log: Path, count: int, child: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while len(logged(log)) < count:
        assert child.poll() is None, "the run ended before it was interrupted"
        assert time.monotonic() < deadline, "the run sent too few requests"
        time.sleep(0.02)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child is POSIX only")
@pytest.mark.timeout(180)
def test_ctrl_c_in_run_loses_no_answer_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log, store = tmp_path / "requests.log", tmp_path / "store.db"
    monkeypatch.setenv(LOG_VARIABLE, str(log))
    handler = "tests.engine.pipeline.request_log:answer"
    with MockServerProcess(latency=0.5, handler=handler) as server:
        child = _start_run(server, store, "first")
        try:
            _wait_for_requests(log, CONCURRENCY + 4, child)
            child.send_signal(signal.SIGINT)
            _, stderr = child.communicate(timeout=120)
        finally:
            child.kill()
        assert child.returncode != 0, stderr.decode()
        first = logged(log)
        rerun = _start_run(server, store, "second")
        try:
            _, stderr = rerun.communicate(timeout=120)
        finally:
            rerun.kill()
        assert rerun.returncode == 0, stderr.decode()

    second = logged(log)[len(first) :]
    assert not set(first) & set(second), "answers received before Ctrl-C were sent again"
    assert len(set(first) | set(second)) == ROWS
    assert len(load_run("second", store).rows) == ROWS


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child is POSIX only")
@pytest.mark.timeout(120)
def test_a_second_ctrl_c_in_run_stops_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log, store = tmp_path / "requests.log", tmp_path / "store.db"
    monkeypatch.setenv(LOG_VARIABLE, str(log))
    handler = "tests.engine.pipeline.request_log:answer"
    # Answers take longer than the test may: only a second Ctrl-C ends the run in time.
    with MockServerProcess(latency=600.0, handler=handler, stop_grace=1.0) as server:
        child = _start_run(server, store, "impatient")
        try:
            _wait_for_requests(log, CONCURRENCY, child)
            child.send_signal(signal.SIGINT)
            assert child.stderr is not None
            while b"stopping" not in child.stderr.readline():
                assert child.poll() is None, "the run ended at the first Ctrl-C"
            child.send_signal(signal.SIGINT)
            child.communicate(timeout=60)
        finally:
            child.kill()
    assert child.returncode != 0
    assert load_run("impatient", store).stats.tasks.get("ok", 0) == 0
