"""Several processes (or threads) opening one brand-new store at the same instant all succeed.

SQLite fails one of two connections at once, without waiting, when both hold a shared lock
on a new file and want the exclusive one (to switch it to WAL): a deadlock it cannot wait
out. Threads hit it far more often than processes, so they test it too.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from fanflow import Store

# Waits for a shared start time, then opens the store: the children race on creating it.
_OPEN_AT = textwrap.dedent(
    """
    import sys, time
    from fanflow import Store

    start_at = float(sys.argv[2])
    time.sleep(max(0.0, start_at - time.time()))
    Store(sys.argv[1]).close()
    """
)
_PROCESSES = 8
_ROUNDS = 2


def _open_at_once(path: Path) -> list[subprocess.CompletedProcess[str]]:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    start_at = time.time() + 2.0  # every child has imported fanflow by then
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN_AT, str(path), repr(start_at)],
            env=env,
            text=True,
            stderr=subprocess.PIPE,
        )
        for _ in range(_PROCESSES)
    ]
    finished = []
    for child in children:
        try:
            _, stderr = child.communicate(timeout=60)
        finally:
            child.kill()
        finished.append(subprocess.CompletedProcess(child.args, child.returncode, "", stderr))
    return finished


def test_processes_opening_a_new_store_at_once_all_succeed(tmp_path: Path) -> None:
    for round_ in range(_ROUNDS):
        path = tmp_path / f"round{round_}" / "store.db"
        for child in _open_at_once(path):
            assert child.returncode == 0, child.stderr
        assert Store(path).runs() == []


def test_threads_opening_a_new_store_at_once_all_succeed(tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def open_store(path: Path, start: threading.Barrier) -> None:
        start.wait()
        try:
            Store(path).close()
        except BaseException as exc:  # collected: the test fails on it below
            errors.append(exc)

    for round_ in range(200):
        path, start = tmp_path / f"store{round_}.db", threading.Barrier(12)
        threads = [threading.Thread(target=open_store, args=(path, start)) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert errors == []
