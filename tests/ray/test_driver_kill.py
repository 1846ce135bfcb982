"""A driver killed with SIGKILL: its shards stop within seconds, nothing keeps sending."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from fanflow.testing import MockServer
from tests.ray.ray_steps import server_handler

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(120)
async def test_workers_stop_when_the_driver_is_killed(ray_cluster: Any, tmp_path: Path) -> None:
    async with MockServer(server_handler, latency=0.02) as server:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        driver = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.ray.kill_driver", server.base_url,
            str(tmp_path / "s.db"), env=env, cwd=ROOT,
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
        assert seen < 2000 * 4  # far from done: it was stopped, not finished
