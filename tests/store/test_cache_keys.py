"""The cache's key filter: every stored key is found, however many, and a miss stays a miss."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fanflow import Store, TaskResult, TaskStatus

KEYS = 10_000  # more than the filter's first bit array is sized for in an empty store


def result(n: int, status: TaskStatus = TaskStatus.OK) -> TaskResult:
    return TaskResult("a", (n,), {"n": n}, {}, status=status, result=f"answer {n}")


async def test_every_key_put_during_a_run_is_a_hit_and_others_miss(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.db")
    try:
        store.start_run("r1", "first", "fp", {}, ["a"])
        assert store.lookup("key-0") is None  # loads the (empty) filter before the puts
        await asyncio.gather(*(store.put("r1", 0, f"key-{n}", result(n)) for n in range(KEYS)))
        await store.put("r1", 0, "failed-key", result(KEYS, TaskStatus.FAILED))

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
