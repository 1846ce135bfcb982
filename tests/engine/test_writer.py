"""The store's writer child process: commits what it is sent, reports what went wrong."""

from __future__ import annotations

import signal
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from fanflow import Store
from fanflow.engine._records import result_row
from fanflow.engine._writer import WriterFailed, WriterProcess
from fanflow.steps import TaskResult, TaskStatus


def rows(count: int, start: int = 0) -> list[tuple[object, ...]]:
    made = []
    for n in range(start, start + count):
        task = TaskResult("answer", (n,), {"question": f"q{n}"}, {})
        task.status, task.result = TaskStatus.OK, f"a{n}"
        made.append(result_row("run", 0, f"key{n}", task))
    return made


def stored(path: Path) -> list[str]:
    with closing(sqlite3.connect(path)) as connection:
        return [r for (r,) in connection.execute("SELECT result FROM results ORDER BY lineage")]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    Store(tmp_path / "store.db").close()  # creates the schema, as a store does
    return tmp_path / "store.db"


def test_each_commit_is_on_disk_when_it_returns(path: Path) -> None:
    writer = WriterProcess(path)
    try:
        writer.commit(rows(3))
        assert stored(path) == ["a0", "a1", "a2"]
        writer.commit(rows(2, start=3))
        assert stored(path) == ["a0", "a1", "a2", "a3", "a4"]
    finally:
        writer.close()


def test_a_refused_commit_raises_with_sqlites_words_and_the_child_goes_on(path: Path) -> None:
    writer = WriterProcess(path)
    try:
        writer.commit(rows(1))
        bad = [(*rows(1, start=1)[0][:6], None, *rows(1)[0][7:])]  # result NOT NULL
        with pytest.raises(WriterFailed, match="IntegrityError: NOT NULL"):
            writer.commit(bad)
        writer.commit(rows(1, start=2))
        assert stored(path) == ["a0", "a2"]
    finally:
        writer.close()


def test_a_child_that_died_is_reported_with_its_exit_code(path: Path) -> None:
    writer = WriterProcess(path)
    writer.commit(rows(1))
    writer._process.send_signal(signal.SIGKILL)
    writer._process.wait()
    with pytest.raises(WriterFailed, match=f"exited with code {-signal.SIGKILL}"):
        writer.commit(rows(1, start=1))
    writer.close()
    assert stored(path) == ["a0"]


def test_ctrl_c_is_left_to_the_engine(path: Path) -> None:
    writer = WriterProcess(path)
    try:
        writer.commit(rows(1))  # the child is past its start-up, so its handler is set
        writer._process.send_signal(signal.SIGINT)
        writer.commit(rows(1, start=1))
        assert stored(path) == ["a0", "a1"]
    finally:
        writer.close()
    assert writer._process.returncode == 0
