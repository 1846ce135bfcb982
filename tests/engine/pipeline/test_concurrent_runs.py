"""Identical runs at the same time on one store send each task once and share its answer.

In one process, a task in flight is shared with every identical task of another run; across
processes, a task claimed by a live process is not sent by another, which waits for its
answer in the store (or sends it itself if the claimant dies).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from fanflow import MockAdapter, PipelineBuilder, PipelineConfig, load_run
from fanflow.testing import MockServerProcess
from tests.engine.pipeline.pipeline_steps import Answer, Question, Subtopics
from tests.engine.pipeline.request_log import LOG_VARIABLE, logged
from tests.engine.pipeline.test_pipeline import fake_llm

ROWS = 30
CONCURRENCY = 6


def _three_steps(adapter: MockAdapter, name: str) -> PipelineBuilder:
    config = PipelineConfig(concurrency=CONCURRENCY, progress=False, run_name=name)
    builder = PipelineBuilder(config, adapter)
    builder.input([{"topic": f"t{i}"} for i in range(4)])
    builder << Subtopics().scatter() << Question() << Answer()
    return builder


async def test_two_identical_runs_at_once_in_one_process_send_each_task_once() -> None:
    adapter = MockAdapter(fake_llm, latency=0.05)
    first, second = _three_steps(adapter, "first"), _three_steps(adapter, "second")

    results = await asyncio.gather(first.build().execute(), second.build().execute())

    prompts = Counter(request.messages[-1].content for request in adapter.requests)
    assert prompts and max(prompts.values()) == 1, prompts.most_common(3)
    rows = [sorted(map(str, result.rows)) for result in results]
    assert rows[0] == rows[1] and len(rows[0]) == len(set(rows[0])) > 0
    assert sum(result.stats.from_store for result in results) == len(adapter.requests)


async def test_without_the_cache_identical_runs_each_send_everything() -> None:
    adapter = MockAdapter(fake_llm, latency=0.05)
    first, second = _three_steps(adapter, "first"), _three_steps(adapter, "second")

    await asyncio.gather(
        first.build().execute(use_cache=False), second.build().execute(use_cache=False)
    )

    prompts = Counter(request.messages[-1].content for request in adapter.requests)
    assert set(prompts.values()) == {2}


# One prompt per row against the server given on the command line, into a named run.
_RUN = textwrap.dedent(
    f"""
    import sys
    from fanflow import OpenAIAdapter, PipelineBuilder, PipelineConfig
    from tests.engine.pipeline.pipeline_steps import Answer

    config = PipelineConfig(
        store=sys.argv[2], run_name=sys.argv[3], concurrency={CONCURRENCY}, progress=False
    )
    builder = PipelineBuilder(config, OpenAIAdapter(sys.argv[1], model="mock-model"))
    builder.input([{{"question": f"q{{i}}"}} for i in range({ROWS})])
    builder << Answer()
    builder.build().run()
    """
)


def _start(server: MockServerProcess, store: Path, name: str) -> subprocess.Popen[bytes]:
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": str(root)}
    command = [sys.executable, "-c", _RUN, server.base_url, str(store), name]
    return subprocess.Popen(command, env=env, stderr=subprocess.PIPE)


@pytest.mark.timeout(180)
def test_identical_runs_in_several_processes_send_each_request_about_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log, store = tmp_path / "requests.log", tmp_path / "store.db"
    monkeypatch.setenv(LOG_VARIABLE, str(log))
    names = ["a", "b", "c"]
    with MockServerProcess(
        latency=0.1, handler="tests.engine.pipeline.request_log:answer"
    ) as server:
        children = [_start(server, store, name) for name in names]
        try:
            outcomes = [child.communicate(timeout=120) for child in children]
        finally:
            for child in children:
                child.kill()
    for child, (_, stderr) in zip(children, outcomes, strict=True):
        assert child.returncode == 0, stderr.decode()

    received = Counter(logged(log))
    assert len(received) == ROWS
    # Each distinct request once, but for those already in flight in a run that had not
    # yet seen the others start (at most its concurrency, per other run).
    assert sum(received.values()) <= ROWS + CONCURRENCY * (len(names) - 1), received
    for name in names:
        rows = load_run(name, store).rows
        assert len(rows) == ROWS and len({str(row) for row in rows}) == ROWS


# A run whose every request hangs: it claims its tasks and is then killed.
_HANGING = textwrap.dedent(
    f"""
    import asyncio, sys
    from fanflow import MockAdapter, PipelineBuilder, PipelineConfig
    from tests.engine.pipeline.pipeline_steps import Answer

    async def hang(request):
        print("asked", flush=True)
        await asyncio.sleep(600)
        return "never"

    config = PipelineConfig(store=sys.argv[1], run_name="doomed", concurrency={ROWS},
                            progress=False)
    builder = PipelineBuilder(config, MockAdapter(hang))
    builder.input([{{"question": f"q{{i}}"}} for i in range({ROWS})])
    builder << Answer()
    builder.build().run()
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="claims between processes need flock")
@pytest.mark.timeout(120)
async def test_a_task_claimed_by_a_process_that_dies_is_sent_by_the_run_waiting_for_it(
    tmp_path: Path,
) -> None:
    store = tmp_path / "store.db"
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": str(root)}
    child = subprocess.Popen(
        [sys.executable, "-c", _HANGING, str(store)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "asked\n"
        adapter = MockAdapter(lambda request: "answered")
        config = PipelineConfig(store=store, run_name="survivor", progress=False)
        builder = PipelineBuilder(config, adapter)
        builder.input([{"question": f"q{i}"} for i in range(ROWS)])
        builder << Answer()
        run = asyncio.create_task(builder.build().execute())
        await asyncio.sleep(1.0)  # let it find the claims (nothing to wait on: they hang)
        sent_while_claimed = adapter.calls
        child.send_signal(signal.SIGKILL)
        result = await asyncio.wait_for(run, 60)
    finally:
        child.kill()
        child.communicate()
    assert sent_while_claimed < ROWS  # it waited for the claimed tasks
    assert len(result.rows) == ROWS  # and sent them itself once their claimant died
