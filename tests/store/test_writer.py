"""The store's writes: the loop feeds a child process that commits, and says what failed."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from fanflow import Store
from fanflow.steps import TaskResult
from fanflow.store._records import result_row
from fanflow.store._writer import WriterFailed, Writes


def row(n: int, text: str | None = None) -> tuple[object, ...]:
    task = TaskResult("answer", (n,), {"question": f"q{n}"}, {}, result=text or f"a{n}")
    return result_row("run", 0, f"key{n}", task)


def stored(path: Path) -> list[str]:
    with closing(sqlite3.connect(path)) as connection:
        return [r for (r,) in connection.execute("SELECT result FROM results ORDER BY lineage")]


@pytest.fixture
def writes(tmp_path: Path) -> Writes:
    Store(tmp_path / "store.db").close()  # creates the schema, as a store does
    return Writes(tmp_path / "store.db")


def child_of(writes: Writes) -> object:
    assert writes._child is not None
    return writes._child.process


async def test_a_put_returns_once_its_row_is_on_disk(writes: Writes) -> None:
    await writes.put(row(0))
    assert stored(writes.path) == ["a0"]
    await writes.put(row(1))
    assert stored(writes.path) == ["a0", "a1"]
    writes.flush()


async def test_many_puts_at_once_go_in_few_batches_and_all_land(
    writes: Writes, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int] = []
    from fanflow.store import _writer

    send = _writer._Child.send
    monkeypatch.setattr(
        _writer._Child, "send", lambda c, rows: (batches.append(len(rows)), send(c, rows))[1]
    )
    await asyncio.gather(*(writes.put(row(n)) for n in range(300)))
    assert sorted(stored(writes.path)) == sorted(f"a{n}" for n in range(300))
    assert sum(batches) == 300 and len(batches) < 10
    writes.flush()


async def test_flush_commits_what_was_queued_without_waiting_and_a_later_put_restarts(
    writes: Writes,
) -> None:
    for n in range(3):
        writes.put_nowait(row(n))
    writes.flush()
    assert stored(writes.path) == ["a0", "a1", "a2"]
    assert writes._child is None
    await writes.put(row(3))
    assert stored(writes.path) == ["a0", "a1", "a2", "a3"]
    writes.flush()


async def test_a_refused_commit_is_the_writes_failure_in_sqlites_words(writes: Writes) -> None:
    await writes.put(row(0))
    with closing(sqlite3.connect(writes.path)) as other, other:
        other.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON results "
            "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
        )
    await writes.put(row(1))  # returns: the store raises the failure (see test_store)
    assert isinstance(writes.failure, WriterFailed)
    assert "IntegrityError: disk says no" in str(writes.failure)
    writes.flush()


async def test_a_child_that_dies_is_the_failure_with_its_exit_code(writes: Writes) -> None:
    await writes.put(row(0))
    process = child_of(writes)
    process.send_signal(signal.SIGKILL)  # type: ignore[attr-defined]
    await asyncio.wait_for(writes.put(row(1)), timeout=10)
    assert f"exited with code {-signal.SIGKILL}" in str(writes.failure)
    await asyncio.wait_for(writes.put(row(2)), timeout=10)  # no child to wait for
    writes.flush()
    assert stored(writes.path) == ["a0"]


async def test_ctrl_c_is_left_to_the_engine(writes: Writes) -> None:
    await writes.put(row(0))  # the child is past its start-up, so its handler is set
    process = child_of(writes)
    process.send_signal(signal.SIGINT)  # type: ignore[attr-defined]
    await writes.put(row(1))
    writes.flush()
    assert writes.failure is None
    assert stored(writes.path) == ["a0", "a1"]
    assert process.returncode == 0  # type: ignore[attr-defined]


def test_each_event_loop_gets_its_own_child(writes: Writes) -> None:
    async def put(n: int) -> None:
        writes.put_nowait(row(n))
        await writes.put(row(n + 1))

    asyncio.run(put(0))  # the loop closes with its child still running
    asyncio.run(put(2))
    writes.flush()
    assert writes.failure is None
    assert stored(writes.path) == ["a0", "a1", "a2", "a3"]


async def test_a_batch_larger_than_the_pipe_goes_through(writes: Writes) -> None:
    big = "x" * 200_000
    await asyncio.gather(*(writes.put(row(n, big + str(n))) for n in range(5)))
    assert [len(text) for text in stored(writes.path)] == [200_001] * 5
    writes.flush()


def test_the_child_commits_frames_that_wait_together_and_replies_to_each(writes: Writes) -> None:
    import pickle
    import subprocess
    import sys

    from fanflow.store import _writer_child

    frames = b"".join(
        _writer_child.FRAME_LENGTH.pack(len(data)) + data
        for data in (pickle.dumps([row(n) for n in range(k, k + 2)]) for k in (0, 2, 4))
    )
    done = subprocess.run(
        [sys.executable, _writer_child.__file__, str(writes.path)],
        input=frames + b"\x10\x00",  # and half of a length: a frame that never arrived
        capture_output=True,
        check=True,
    )
    assert done.stdout == b"K\x02\x00\x00\x00" * 3
    assert stored(writes.path) == ["a0", "a1", "a2", "a3", "a4", "a5"]


async def test_frames_sent_while_one_is_part_written_follow_it_whole(writes: Writes) -> None:
    big = "y" * 300_000  # more than the pipe holds, so each frame is written in parts

    async def put_in_turn(n: int) -> None:
        for _ in range(n):  # each in its own loop turn, so each is its own frame
            await asyncio.sleep(0)
        await writes.put(row(n, big + str(n)))

    await asyncio.gather(*(put_in_turn(n) for n in range(6)))
    assert sorted(text[-1] for text in stored(writes.path)) == [str(n) for n in range(6)]
    assert writes.failure is None
    writes.flush()
