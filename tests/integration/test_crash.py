"""Crash safety with a real process: kill a run (SIGKILL, SIGINT), run it again, lose nothing.

A mock server runs here, in the test's event loop; `crash_pipeline.py` runs a 2,200-task
pipeline against it in a child process with its store in tmp. A result is in the store's log
before its worker takes another task, so after a kill at most `concurrency` answered tasks
are lost:
the requests sent again by the resumed run are bounded by that, and its rows are exactly
those of a run that was never interrupted.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

import fanflow
from fanflow.testing import MockServer

pytestmark = pytest.mark.timeout(90)

SCRIPT = Path(__file__).with_name("crash_pipeline.py")
RUN_NAME = "crash"
TOPICS = 200
TASKS = TOPICS * 11  # a subtopics task, then 5 questions and 5 answers, per topic
ROWS = TOPICS * 5
CONCURRENCY = 16
LATENCY = 0.02
HINT = "Run the same pipeline again to resume"


def model_answer(body: dict[str, Any]) -> str:
    """Deterministic answers from the prompt: 5 subtopics, then a question, an answer."""
    prompt = body["messages"][-1]["content"]
    if match := re.fullmatch(r"subtopics of (.+)", prompt):
        return orjson.dumps([f"{match[1]}-{n}" for n in range(5)]).decode()
    if match := re.fullmatch(r"question on (.+) in (.+)", prompt):
        return f"Q({match[1]} / {match[2]})"
    return f"A({prompt})"


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str
    completions: int  # requests the server answered during this run


async def start(
    server: MockServer, store: Path, own_group: bool = False
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCRIPT),
        server.base_url,
        str(store),
        str(CONCURRENCY),
        str(TOPICS),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=own_group,
    )


async def run_to_end(server: MockServer, store: Path, timeout: float = 30.0) -> Finished:
    before = server.completions_total
    process = await start(server, store)
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    finished = Finished(
        process.returncode or 0, stdout.decode(), stderr.decode(), server.completions_total - before
    )
    assert finished.returncode == 0, finished.stderr
    assert f"rows {ROWS}" in finished.stdout
    return finished


async def wait_for_completions(
    server: MockServer, process: asyncio.subprocess.Process, count: int, timeout: float = 30.0
) -> None:
    """Until the server has answered `count` requests in all (the child must still run)."""
    reached = asyncio.ensure_future(server.wait_for(completions=count))
    ended = asyncio.ensure_future(process.wait())
    done, pending = await asyncio.wait(
        {reached, ended}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
    )
    for waiting in pending:
        waiting.cancel()
    if ended in done:
        raise AssertionError(f"the pipeline ended early with {process.returncode}")
    if reached not in done:
        raise AssertionError(f"only {server.completions_total} of {count} requests in time")


def final_rows(store: Path) -> list[dict[str, Any]]:
    rows = fanflow.load_run(RUN_NAME, store=store).rows
    return sorted(rows, key=lambda row: row["_lineage"])


@pytest.mark.parametrize("group", [False, True], ids=["the engine", "engine and writer"])
async def test_a_killed_run_resumes_and_resends_at_most_what_was_in_flight(
    tmp_path: Path, group: bool
) -> None:
    """Killing the engine's process alone, or its whole process group (the store's writer
    child too: its log is then committed by the next run that opens the store)."""
    crashed, fresh = tmp_path / "crashed.db", tmp_path / "fresh.db"
    async with MockServer(model_answer, latency=LATENCY) as server:
        process = await start(server, crashed, own_group=group)
        await wait_for_completions(server, process, int(0.4 * TASKS))
        if group:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            os.kill(process.pid, signal.SIGKILL)
        await asyncio.wait_for(process.wait(), 10)
        assert process.returncode == -signal.SIGKILL
        await asyncio.sleep(3 * LATENCY)  # requests already on their way are answered
        killed = server.completions_total

        resumed = await run_to_end(server, crashed)
        uninterrupted = await run_to_end(server, fresh)

    assert uninterrupted.completions == TASKS
    assert killed < TASKS
    resent = killed + resumed.completions - uninterrupted.completions
    assert resent <= CONCURRENCY, f"{resent} requests sent again, {CONCURRENCY} in flight"
    assert final_rows(crashed) == final_rows(fresh)
    assert len(final_rows(crashed)) == ROWS
    statuses = {run.status for run in fanflow.runs(crashed)}
    assert statuses == {"interrupted", "ok"}  # the killed run's lock died with it


async def test_sigint_stops_promptly_keeps_the_finished_tasks_and_says_how_to_resume(
    tmp_path: Path,
) -> None:
    store = tmp_path / "interrupted.db"
    async with MockServer(model_answer, latency=LATENCY) as server:
        process = await start(server, store)
        await wait_for_completions(server, process, int(0.3 * TASKS))
        process.send_signal(signal.SIGINT)
        loop = asyncio.get_running_loop()
        interrupted_at = loop.time()
        _, stderr_bytes = await asyncio.wait_for(process.communicate(), 10)
        stopped_after = loop.time() - interrupted_at
        await asyncio.sleep(3 * LATENCY)
        before_rerun = server.completions_total

        stderr = stderr_bytes.decode()
        assert process.returncode != 0
        assert stopped_after < 5, f"took {stopped_after:.1f}s to stop after SIGINT"
        assert HINT in stderr, stderr
        match = re.search(r"run 'crash' interrupted; (\d+) finished tasks are saved", stderr)
        assert match, stderr
        saved = int(match[1])
        assert 0 < saved < TASKS

        record = fanflow.load_run(RUN_NAME, store=store)
        assert sum(record.stats.tasks.values()) == saved
        assert fanflow.runs(store)[0].status == "interrupted"

        resumed = await run_to_end(server, store)

    # Exactly what was not saved is sent again: tasks cancelled while their commit was
    # under way count as saved in the hint and the stats once their commit landed.
    assert resumed.completions == TASKS - saved
    assert before_rerun + resumed.completions - TASKS <= CONCURRENCY  # what SIGINT lost
    assert len(final_rows(store)) == ROWS
