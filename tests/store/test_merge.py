"""`copy_results` (a run copied from another store file, references made plain) and
`run_progress` (what a running run in another file has saved so far, by step)."""

from __future__ import annotations

from pathlib import Path

from fanflow import TaskResult, TaskStatus
from fanflow.store import Store, copy_results, run_progress


def result(n: int, status: TaskStatus = TaskStatus.OK, cached: bool = False) -> TaskResult:
    return TaskResult("a", (n,), {"n": n}, {}, status=status, result=f"answer {n}", cached=cached)


async def test_a_run_and_its_references_are_copied_as_plain_rows(tmp_path: Path) -> None:
    shard = Store(tmp_path / "shard.db")
    shard.start_run("r1", "first", "f", {}, ["a"])
    for n in range(3):
        await shard.put("r1", 0, f"key{n}", result(n))
    await shard.put("r1", 0, "bad", result(3, TaskStatus.FAILED))
    shard.finish_run("r1", "ok", {})
    shard.start_run("r2", "second", "f", {}, ["a"])  # a resume: cache hits are references
    for n in range(3):
        found = shard.lookup(f"key{n}")
        assert found is not None
        await shard.put("r2", 0, f"key{n}", result(n, cached=True))
    await shard.put("r2", 0, "bad", result(3))
    shard.finish_run("r2", "ok", {})
    shard.close()

    driver = Store(tmp_path / "driver.db")
    assert copy_results(tmp_path / "shard.db", "r2", driver.path, "merged") == 4
    copied = list(driver.results("merged"))
    assert [(r.lineage, r.result, r.cached) for r in copied] == [
        ((0,), "answer 0", True), ((1,), "answer 1", True), ((2,), "answer 2", True),
        ((3,), "answer 3", False),
    ]  # fmt: skip
    again = Store(tmp_path / "shard.db")
    again.clear("r1")  # the copy depends on no shard row
    again.close()
    assert len(list(driver.results("merged"))) == 4
    driver.close()


async def test_progress_counts_a_running_run_by_step(tmp_path: Path) -> None:
    store = Store(tmp_path / "shard.db")
    assert run_progress(tmp_path / "none.db", "x") == {}
    store.start_run("r1", "shard-0", "f", {}, ["a", "b"])
    await store.put("r1", 0, "k0", result(0))
    await store.put("r1", 0, "k1", result(1, TaskStatus.FAILED))
    await store.put("r1", 1, "k2", result(2, cached=True))
    assert run_progress(store.path, "shard-0") == {0: (2, 1, 0), 1: (1, 0, 1)}
    store.finish_run("r1", "ok", {})
    assert run_progress(store.path, "shard-0") == {}  # finished: the outcome says the rest
    store.close()
