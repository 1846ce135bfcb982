"""A driver killed with SIGKILL: its shards stop within seconds, nothing keeps sending, and
running the same pipeline again sends only what was not saved."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from fanflow import RayRunner
from fanflow.testing import MockServer
from tests.ray.kill_driver import CONCURRENCY, ROWS, pipeline
from tests.ray.ray_steps import server_handler

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(120)
async def test_workers_stop_when_the_driver_is_killed_and_a_rerun_resumes(
    ray_cluster: Any, tmp_path: Path
) -> None:
    store = str(tmp_path / "s.db")
    async with MockServer(server_handler, latency=0.02) as server:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        driver = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.ray.kill_driver", server.base_url,
            store, env=env, cwd=ROOT,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            await asyncio.wait_for(server.wait_for(requests=50), 90)
        finally:
            driver.send_signal(signal.SIGKILL)
            await driver.wait()
        killed = time.monotonic()
        quiet_since, seen = time.monotonic(), server.requests_total
        while time.monotonic() - quiet_since < 2.0:  # until 2 s pass without a request
            await asyncio.sleep(0.1)
            if server.requests_total != seen:
                quiet_since, seen = time.monotonic(), server.requests_total
        assert quiet_since - killed < 10.0, "requests still arrived 10 s after the kill"
        tasks = ROWS * 4
        assert seen < tasks  # it was stopped, not finished

        result = await pipeline(server.base_url, store).execute(runner=RayRunner(shards=2))
    assert len(result.rows) == ROWS * 3 and not result.failures
    # Sent again: what was not saved, at most the requests in flight at the kill.
    assert tasks <= server.requests_total <= tasks + CONCURRENCY
