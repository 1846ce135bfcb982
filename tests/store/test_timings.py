"""The store keeps each result's timing (issue #17), and a store made before the timing
columns existed (on `results` and on `reused` references) opens, its old rows reading
with no timing."""

from __future__ import annotations

import dataclasses
import sqlite3
from contextlib import closing
from pathlib import Path

from fanflow import Store, TaskResult, TaskTiming, Usage
from tests.store.test_finish_reason import OLD_SCHEMA

OLD_REFERENCES = """
CREATE TABLE reused (
    run_id TEXT NOT NULL, step_index INTEGER NOT NULL, lineage TEXT NOT NULL,
    source_run TEXT NOT NULL, source_step INTEGER NOT NULL,
    step TEXT, inputs BLOB, context BLOB,
    PRIMARY KEY (run_id, step_index, lineage)
) WITHOUT ROWID;
INSERT INTO runs VALUES ('old', 'old', 'fp', '{}', '["a"]', 'done', 1.0, 2.0, NULL);
INSERT INTO runs VALUES ('again', 'again', 'fp', '{}', '["a"]', 'done', 3.0, 4.0, NULL);
INSERT INTO reused VALUES ('again', 0, '00000001', 'old', 0, NULL, NULL, NULL);
"""


def _result(text: str, timing: TaskTiming | None) -> TaskResult:
    return TaskResult(
        "a", (1,), {}, {}, result=text, value=text, usage=Usage(1, 2), requests=2,
        timing=timing,
    )  # fmt: skip


async def test_a_timing_is_stored_and_read_back(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.db")
    try:
        store.start_run("r1", "first", "fp", {}, ["a"])
        timed = _result("x", TaskTiming(10.0, 10.5, 12.0, latency=1.25, attempts=2))
        await store.put("r1", 0, "key-1", timed)
        assert store.lookup("key-1") == timed
        (listed,) = store.results("r1")
        assert listed == timed
    finally:
        store.close()


async def test_a_store_made_before_timings_opens_and_takes_them(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path)) as old:
        old.executescript(OLD_SCHEMA + OLD_REFERENCES)
        old.commit()

    store = Store(path)
    try:
        (old_result,) = store.results("old")
        assert (old_result.result, old_result.timing) == ("before", None)
        (reference,) = store.results("again")
        assert reference.cached and reference.timing is None
        store.start_run("r2", "second", "fp", {}, ["a"])
        new = _result("after", TaskTiming(1.0, 2.0, 3.0, 0.5, 1))
        await store.put("r2", 0, "new-key", new)
        (listed,) = store.results("r2")
        assert listed == dataclasses.replace(new, value="after")
    finally:
        store.close()
    Store(path).close()  # opening an up-to-date store again changes nothing
