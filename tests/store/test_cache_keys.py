"""The cache's key filter: every stored key is found, however many, and a miss stays a miss."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from fanflow import Store, TaskResult, TaskStatus

KEYS = 10_000  # more than the filter's first bit array is sized for in an empty store


def result(n: int, status: TaskStatus = TaskStatus.OK) -> TaskResult:
    return TaskResult("a", (n,), {"n": n}, {}, status=status, result=f"answer {n}")


# A run's puts return once their rows are in the store's log (`committed=False`); its
# answers are hits from there on, before the writer commits them.
COMMITTED = pytest.mark.parametrize("committed", [True, False], ids=["committed", "in the log"])


@COMMITTED
async def test_every_key_put_during_a_run_is_a_hit_and_others_miss(
    tmp_path: Path, committed: bool
) -> None:
    store = Store(tmp_path / "store.db")
    try:
        store.start_run("r1", "first", "fp", {}, ["a"])
        assert store.lookup("key-0") is None  # loads the (empty) filter before the puts
        puts = (store.put("r1", 0, f"key-{n}", result(n), committed) for n in range(KEYS))
        await asyncio.gather(*puts)
        await store.put("r1", 0, "failed-key", result(KEYS, TaskStatus.FAILED), committed)

        found = [store.lookup(f"key-{n}") for n in range(KEYS)]
        assert [r.result if r else None for r in found] == [f"answer {n}" for n in range(KEYS)]
        assert store.lookup("failed-key") is None
        assert all(store.lookup(f"other-{n}") is None for n in range(KEYS))
    finally:
        store.close()

    reopened = Store(tmp_path / "store.db")
    try:
        assert all(reopened.lookup(f"key-{n}") is not None for n in range(0, KEYS, 7))
        assert reopened.lookup("other-1") is None
    finally:
        reopened.close()


@COMMITTED
async def test_a_key_put_through_one_store_is_a_hit_for_another_on_the_same_file(
    tmp_path: Path, committed: bool
) -> None:
    # Two runs on one store in one process: each opens its own Store. The second must
    # find what the first put after the second had loaded its keys, or it sends again.
    first, second = Store(tmp_path / "store.db"), Store(tmp_path / "store.db")
    try:
        first.start_run("r1", "first", "fp", {}, ["a"])
        assert first.lookup("key-1") is None and second.lookup("key-1") is None
        await first.put("r1", 0, "key-1", result(1), committed)

        found = second.lookup("key-1")
        assert found is not None and found.result == "answer 1"
    finally:
        first.close()
        second.close()


def test_a_store_opened_later_finds_keys_written_since_by_another_store(tmp_path: Path) -> None:
    async def put_one(store: Store, n: int) -> None:
        await store.put("r1", 0, f"key-{n}", result(n))

    writer, early = Store(tmp_path / "store.db"), Store(tmp_path / "store.db")
    try:
        writer.start_run("r1", "first", "fp", {}, ["a"])
        asyncio.run(put_one(writer, 1))
        assert early.lookup("key-1") is not None  # loads the keys, kept while in use
        writer.flush()
        other = Store(tmp_path / "store.db")
        asyncio.run(put_one(other, 2))  # `other` never looked up: its put is only on disk
        other.close()
        late = Store(tmp_path / "store.db")
        assert late.lookup("key-2") is not None and late.lookup("key-1") is not None
        late.close()
    finally:
        writer.close()
        early.close()
