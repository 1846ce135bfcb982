"""The store keeps each result's finish reason (issue #12, item 8), and a store made before
that column existed still opens, its old results reading as None."""

from __future__ import annotations

import dataclasses
import sqlite3
from contextlib import closing
from pathlib import Path

from fanflow import Store, TaskResult, Usage

OLD_SCHEMA = """
CREATE TABLE runs (
    id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, fingerprint TEXT NOT NULL,
    config TEXT NOT NULL, steps TEXT NOT NULL, status TEXT NOT NULL,
    started_at REAL NOT NULL, ended_at REAL, stats TEXT
);
CREATE TABLE results (
    run_id TEXT NOT NULL, step_index INTEGER NOT NULL, step TEXT NOT NULL,
    lineage TEXT NOT NULL, key TEXT NOT NULL, status TEXT NOT NULL, result TEXT NOT NULL,
    error TEXT, inputs BLOB NOT NULL, context BLOB NOT NULL, prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL, requests INTEGER NOT NULL, model TEXT,
    cost REAL NOT NULL, cached INTEGER NOT NULL,
    PRIMARY KEY (run_id, step_index, lineage)
);
INSERT INTO results VALUES ('old', 0, 'a', '00000001', 'old-key', 'ok', 'before', NULL,
    '{}', '{}', 1, 2, 1, 'm', 0.0, 0);
"""


def _result(text: str, finish_reason: str | None) -> TaskResult:
    return TaskResult(
        "a", (1,), {}, {}, result=text, usage=Usage(1, 2), requests=1,
        finish_reason=finish_reason,
    )  # fmt: skip


async def test_the_finish_reason_is_stored_and_read_back(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.db")
    try:
        store.start_run("r1", "first", "fp", {}, ["a"])
        await store.put("r1", 0, "key-1", _result("The answer is", "length"))
        found = store.lookup("key-1")
        assert found is not None and found.finish_reason == "length"
        (listed,) = store.results("r1")
        assert listed.finish_reason == "length"
    finally:
        store.close()


async def test_a_store_made_before_finish_reasons_opens_and_takes_them(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path)) as old:
        old.executescript(OLD_SCHEMA)
        old.commit()

    store = Store(path)
    try:
        old_result = store.lookup("old-key")
        assert old_result is not None
        assert (old_result.result, old_result.finish_reason) == ("before", None)
        store.start_run("r2", "second", "fp", {}, ["a"])
        new = _result("after", "content_filter")
        await store.put("r2", 0, "new-key", new)
        (listed,) = store.results("r2")
        assert listed == dataclasses.replace(new, value="after")
    finally:
        store.close()
    Store(path).close()  # opening an up-to-date store again changes nothing
