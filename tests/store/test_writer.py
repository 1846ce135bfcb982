"""The store's writes: the loop appends to a log, a child commits it, nothing is lost."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from fanflow import Store
from fanflow.steps import TaskResult
from fanflow.store import _logs, _writer, _writer_child
from fanflow.store._logs import logs_folder, open_log
from fanflow.store._records import result_row
from fanflow.store._shared_keys import PendingRows
from fanflow.store._writer import WriterFailed, Writes


def row(n: int, text: str | None = None) -> tuple[object, ...]:
    task = TaskResult("answer", (n,), {"question": f"q{n}"}, {}, result=text or f"a{n}")
    return result_row("run", 0, f"key{n}", task)


def stored(path: Path) -> list[str]:
    with closing(sqlite3.connect(path)) as connection:
        return [r for (r,) in connection.execute("SELECT result FROM results ORDER BY lineage")]


def logs(path: Path) -> list[Path]:
    folder = logs_folder(path)
    return sorted(folder.glob("*.log")) if folder.is_dir() else []


@pytest.fixture
def writes(tmp_path: Path) -> Writes:
    Store(tmp_path / "store.db").close()  # creates the schema, as a store does
    return Writes(tmp_path / "store.db", PendingRows())


def child_of(writes: Writes) -> subprocess.Popen[bytes]:
    assert writes._child is not None
    return writes._child.process


async def test_a_put_returns_once_its_row_is_in_the_log_and_a_committed_one_once_in_sqlite(
    writes: Writes,
) -> None:
    await writes.put(row(0))
    [log] = logs(writes.path)
    assert log.stat().st_size > 0  # on disk: it survives this process from here on
    await writes.put(row(1), committed=True)
    assert stored(writes.path) == ["a0", "a1"]
    writes.flush()
    assert logs(writes.path) == []  # committed, so the child deleted it


async def test_a_keyed_row_is_read_back_from_the_log_until_it_is_committed(
    writes: Writes,
) -> None:
    first = row(0)
    await writes.put(first, "key0")
    assert list(writes.pending) == ["key0"]
    assert writes.pending["key0"].row("key0") == first
    await writes.put(row(1), committed=True)  # commits everything written before it too
    assert writes.pending == {}
    writes.flush()


async def test_many_puts_at_once_go_in_few_frames_and_all_land(
    writes: Writes, monkeypatch: pytest.MonkeyPatch
) -> None:
    frames: list[int] = []
    encode = _logs.encode_frame
    monkeypatch.setattr(
        _logs, "encode_frame", lambda rows: (frames.append(len(rows)), encode(rows))[1]
    )
    await asyncio.gather(*(writes.put(row(n)) for n in range(1200)))
    writes.flush()
    assert sorted(stored(writes.path)) == sorted(f"a{n}" for n in range(1200))
    assert frames == [512, 512, 176]


async def test_a_full_log_is_finished_by_its_child_while_a_new_one_takes_the_next_rows(
    writes: Writes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_writer, "ROTATE_AT", 500)  # a few frames per log
    logs_used = set()
    for n in range(40):  # a frame per put: each in its own loop turn
        await writes.put(row(n), f"key{n}")
        frame = writes.pending[f"key{n}"]
        assert frame.row(f"key{n}") == row(n)  # found before its commit
        logs_used.add(frame.log.path)
    assert len(logs_used) > 5
    await writes.put(row(40), committed=True)
    writes.flush()
    assert stored(writes.path) == [f"a{n}" for n in range(41)]
    assert logs(writes.path) == [] and writes.failure is None


async def test_flush_commits_what_was_queued_without_waiting_and_a_later_put_restarts(
    writes: Writes,
) -> None:
    for n in range(3):
        writes.put_nowait(row(n))
    writes.flush()
    assert stored(writes.path) == ["a0", "a1", "a2"]
    assert writes._child is None
    await writes.put(row(3), committed=True)
    assert stored(writes.path) == ["a0", "a1", "a2", "a3"]
    writes.flush()


async def test_a_refused_commit_is_the_failure_in_sqlites_words_and_the_log_stays(
    writes: Writes,
) -> None:
    await writes.put(row(0), committed=True)
    with closing(sqlite3.connect(writes.path)) as other, other:
        other.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON results "
            "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
        )
    await writes.put(row(1), committed=True)  # returns: the store raises the failure
    assert isinstance(writes.failure, WriterFailed)
    assert "IntegrityError: disk says no" in str(writes.failure)
    writes.flush()
    assert stored(writes.path) == ["a0"]
    assert len(logs(writes.path)) == 1  # the row the file refused is kept for later

    with closing(sqlite3.connect(writes.path)) as other, other:
        other.execute("DROP TRIGGER refuse")
    Store(writes.path).close()  # the next store on the file commits it
    assert stored(writes.path) == ["a0", "a1"]
    assert logs(writes.path) == []


async def test_a_child_that_dies_is_the_failure_with_its_exit_code_and_loses_nothing(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "store.db")
    writes = store._writes
    await writes.put(row(0))
    child_of(writes).send_signal(signal.SIGKILL)
    await asyncio.wait_for(writes.put(row(1), committed=True), timeout=10)
    assert f"exited with code {-signal.SIGKILL}" in str(writes.failure)
    store.close()  # commits the log the child left
    assert stored(store.path) == ["a0", "a1"]
    assert logs(store.path) == []


async def test_ctrl_c_is_left_to_the_engine(writes: Writes) -> None:
    await writes.put(
        row(0), committed=True
    )  # the child is past its start-up, so its handler is set
    process = child_of(writes)
    process.send_signal(signal.SIGINT)
    await writes.put(row(1))
    writes.flush()
    assert writes.failure is None
    assert stored(writes.path) == ["a0", "a1"]
    assert process.returncode == 0


def test_each_event_loop_gets_its_own_child(writes: Writes) -> None:
    async def put(n: int) -> None:
        writes.put_nowait(row(n))
        await writes.put(row(n + 1))

    asyncio.run(put(0))  # the loop closes with its child still running
    asyncio.run(put(2))
    writes.flush()
    assert writes.failure is None
    assert stored(writes.path) == ["a0", "a1", "a2", "a3"]


async def test_rows_larger_than_a_pipe_go_through(writes: Writes) -> None:
    big = "x" * 200_000
    await asyncio.gather(*(writes.put(row(n, big + str(n))) for n in range(5)))
    writes.flush()
    assert [len(text) for text in stored(writes.path)] == [200_001] * 5


def frames(*groups: range) -> bytes:
    return b"".join(_writer_child.encode_frame([row(n) for n in group]) for group in groups)


def test_the_child_commits_whole_frames_replies_with_the_offset_and_deletes_the_log(
    writes: Writes,
) -> None:
    log, fd = open_log(writes.path)
    whole = frames(range(0, 2), range(2, 4))
    os.write(fd, whole + frames(range(4, 6))[:20])  # and the start of a frame never finished
    os.close(fd)
    done = subprocess.run(
        [sys.executable, _writer_child.__file__, str(writes.path), str(log)],
        input=b"",
        capture_output=True,
        check=True,
        timeout=30,
    )
    assert done.stdout == b"K" + _writer_child.OFFSET.pack(len(whole))
    assert stored(writes.path) == ["a0", "a1", "a2", "a3"]
    assert not log.exists()


def test_a_log_left_by_dead_processes_is_committed_when_a_store_opens(tmp_path: Path) -> None:
    Store(tmp_path / "store.db").close()
    log, fd = open_log(tmp_path / "store.db")
    os.write(fd, frames(range(0, 3)) + frames(range(3, 5))[:30])  # the last frame torn
    os.close(fd)  # its writer is gone: the lock with it

    Store(tmp_path / "store.db").close()
    assert stored(tmp_path / "store.db") == ["a0", "a1", "a2"]
    assert not log.exists()


def test_a_log_whose_writer_lives_is_left_to_it(tmp_path: Path) -> None:
    Store(tmp_path / "store.db").close()
    log, fd = open_log(tmp_path / "store.db")
    os.write(fd, frames(range(0, 3)))
    try:
        Store(tmp_path / "store.db").close()
        assert stored(tmp_path / "store.db") == []
        assert log.exists()
    finally:
        os.close(fd)


def test_a_damaged_frame_is_not_read_and_its_log_is_kept(tmp_path: Path) -> None:
    Store(tmp_path / "store.db").close()
    log, fd = open_log(tmp_path / "store.db")
    data = bytearray(frames(range(0, 2)))
    data[-3] ^= 0xFF  # a flipped byte: the checksum fails
    os.write(fd, bytes(data))
    os.close(fd)
    Store(tmp_path / "store.db").close()
    assert stored(tmp_path / "store.db") == []
    assert log.exists()


def test_a_frame_that_names_a_class_is_refused_and_the_store_still_opens(
    tmp_path: Path,
) -> None:
    import pickle
    import zlib

    data = pickle.dumps([(Path("x"),)])
    frame = _writer_child.FRAME_HEADER.pack(len(data), zlib.crc32(data)) + data
    with pytest.raises(_writer_child.LogCorrupt, match="names pathlib"):
        _writer_child.take_frames(bytearray(frame))

    Store(tmp_path / "store.db").close()
    log, fd = open_log(tmp_path / "store.db")
    os.write(fd, frame)
    os.close(fd)
    Store(tmp_path / "store.db").close()  # logs what it could not read, keeps the file
    assert log.exists()
