"""The store on its own: results in and out, the cache, run records, clearing, failures."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from fanflow import ConfigurationError, ExecutionError, Store, TaskResult, TaskStatus, Usage


def result(
    step: str,
    lineage: tuple[int, ...],
    text: str = "answer",
    status: TaskStatus = TaskStatus.OK,
) -> TaskResult:
    error = None if status is TaskStatus.OK else "TransportError: connection reset"
    return TaskResult(
        step, lineage, {"question": f"q{lineage}"}, {"topic": "physics"}, status=status,
        result=text, error=error, usage=Usage(12, 34), requests=2, model="m", cost=0.5,
    )  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "store.db")
    yield opened
    opened.close()


def start(store: Store, run_id: str, name: str, steps: list[str] | None = None) -> None:
    store.start_run(run_id, name, "fp", {"concurrency": 4}, steps or ["a", "b"])


async def test_put_then_lookup_returns_the_result_as_it_was(store: Store) -> None:
    start(store, "r1", "first")
    original = result("a", (0, 3), '["x", "y"]')
    await store.put("r1", 0, "key-1", original)

    found = store.lookup("key-1")
    assert found is not None
    assert (found.step, found.lineage, found.status) == ("a", (0, 3), TaskStatus.OK)
    assert found.result == '["x", "y"]'
    assert found.value == ["x", "y"]  # parsed again, as the executor parses it
    assert found.inputs == {"question": "q(0, 3)"}
    assert found.context == {"topic": "physics"}
    assert found.usage == Usage(12, 34)
    assert (found.requests, found.model, found.cost, found.cached) == (2, "m", 0.5, False)
    assert store.lookup("another-key") is None


@pytest.mark.parametrize("status", [TaskStatus.FAILED, TaskStatus.TIMED_OUT, TaskStatus.SKIPPED])
async def test_only_ok_results_are_cache_hits(store: Store, status: TaskStatus) -> None:
    start(store, "r1", "first")
    await store.put("r1", 0, "key-1", result("a", (0,), "", status))

    assert store.lookup("key-1") is None
    stored = list(store.results("r1"))
    assert [(r.status, r.error) for r in stored] == [(status, "TransportError: connection reset")]


async def test_an_ok_result_under_the_same_key_in_a_later_run_is_a_hit(store: Store) -> None:
    start(store, "r1", "first")
    await store.put("r1", 0, "key-1", result("a", (0,), "", TaskStatus.FAILED))
    start(store, "r2", "second")
    await store.put("r2", 0, "key-1", result("a", (0,), "fine now"))

    found = store.lookup("key-1")
    assert found is not None and found.result == "fine now"


async def test_results_come_in_step_then_lineage_order(store: Store) -> None:
    start(store, "r1", "first")
    lineages = [(1, 0), (0, 10), (0, 2), (0, 9)]  # 10 after 9: lineage order, not text order
    for i, lineage in enumerate(lineages):
        await store.put("r1", 1, f"b{i}", result("b", lineage))
    for root in (2, 0, 1):
        await store.put("r1", 0, f"a{root}", result("a", (root,)))

    order = [(r.step, r.lineage) for r in store.results("r1")]
    assert order == [
        ("a", (0,)), ("a", (1,)), ("a", (2,)),
        ("b", (0, 2)), ("b", (0, 9)), ("b", (0, 10)), ("b", (1, 0)),
    ]  # fmt: skip
    assert [r.lineage for r in store.results("r1", step_index=1)] == sorted(lineages)


async def test_results_ok_only_and_per_run(store: Store) -> None:
    start(store, "r1", "first")
    start(store, "r2", "second")
    await store.put("r1", 0, "k0", result("a", (0,)))
    await store.put("r1", 0, "k1", result("a", (1,), "", TaskStatus.FAILED))
    await store.put("r1", 0, "k2", result("a", (2,)))
    await store.put("r2", 0, "k3", result("a", (7,)))

    assert [r.lineage for r in store.results("r1")] == [(0,), (1,), (2,)]
    assert [r.lineage for r in store.results("r1", ok_only=True)] == [(0,), (2,)]
    assert [r.lineage for r in store.results("r1", step_index=0, ok_only=True)] == [(0,), (2,)]
    assert [r.lineage for r in store.results("r2")] == [(7,)]
    assert list(store.results("r1", step_index=1)) == []


async def test_putting_the_same_task_again_replaces_it(store: Store) -> None:
    start(store, "r1", "first")
    await store.put("r1", 0, "k", result("a", (0,), "", TaskStatus.FAILED))
    await store.put("r1", 0, "k", result("a", (0,), "second try"))

    assert [(r.status, r.result) for r in store.results("r1")] == [(TaskStatus.OK, "second try")]


def test_run_records_start_finish_and_list_newest_first(store: Store) -> None:
    start(store, "id-1", "first", ["subtopics", "answers"])
    start(store, "id-2", "second")
    store.finish_run("id-1", "ok", {"tasks": {"ok": 3}})

    first = store.find_run("id-1")
    assert (first.id, first.name, first.fingerprint) == ("id-1", "first", "fp")
    assert first.config == {"concurrency": 4}
    assert first.steps == ["subtopics", "answers"]
    assert first.status == "ok"
    assert first.stats == {"tasks": {"ok": 3}}
    assert first.ended_at is not None and first.ended_at >= first.started_at > 0

    second = store.find_run("second")
    assert (second.id, second.status, second.ended_at) == ("id-2", "running", None)
    assert second.stats == {}
    assert [r.id for r in store.runs()] == ["id-2", "id-1"]


def test_find_run_by_id_or_by_name(store: Store) -> None:
    start(store, "abc123", "nightly")
    assert store.find_run("abc123").name == "nightly"
    assert store.find_run("nightly").id == "abc123"


def test_an_unknown_run_is_a_configuration_error_naming_it(store: Store) -> None:
    start(store, "id-1", "nightly")
    with pytest.raises(ConfigurationError, match="no-such-run") as caught:
        store.find_run("no-such-run")
    assert "nightly" in str(caught.value)  # and it lists the runs that do exist


def test_an_empty_store_says_it_has_no_runs(store: Store) -> None:
    assert store.runs() == []
    with pytest.raises(ConfigurationError, match="none yet"):
        store.find_run("anything")


async def test_a_run_name_used_again_names_the_newer_run(store: Store) -> None:
    start(store, "old", "nightly")
    await store.put("old", 0, "k", result("a", (0,)))
    start(store, "new", "nightly")  # the same pipeline run again under its name

    assert store.find_run("nightly").id == "new"
    older = store.find_run("old")
    assert older.name == "nightly@old"
    assert store.find_run("nightly@old").id == "old"
    assert [r.id for r in store.runs()] == ["new", "old"]
    assert len(list(store.results("old"))) == 1
    assert store.lookup("k") is not None


async def test_clear_one_run_keeps_the_others(store: Store) -> None:
    start(store, "r1", "first")
    start(store, "r2", "second")
    for i in range(3):
        await store.put("r1", 0, f"one-{i}", result("a", (i,)))
    await store.put("r2", 0, "two", result("a", (0,)))

    assert store.clear("r1") == 3
    assert list(store.results("r1")) == []
    assert store.lookup("one-0") is None
    assert store.lookup("two") is not None
    assert {r.id for r in store.runs()} == {"r1", "r2"}  # records stay; results go


async def test_clear_all_forgets_every_result(store: Store) -> None:
    start(store, "r1", "first")
    start(store, "r2", "second")
    await store.put("r1", 0, "one", result("a", (0,)))
    await store.put("r2", 0, "two", result("a", (0,)))

    assert store.clear() == 2
    assert store.lookup("one") is None and store.lookup("two") is None
    assert list(store.results("r1")) == list(store.results("r2")) == []
    assert store.clear() == 0


async def test_after_flush_a_second_store_on_the_file_sees_everything(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    writer = Store(path)
    start(writer, "r1", "first")
    for i in range(1200):  # more than one writer batch
        writer.put_nowait("r1", 1, f"key-{i}", result("b", (i // 10, i % 10), f"text {i}"))
    writer.finish_run("r1", "ok", {"requests": 1200})
    writer.flush()

    reader = Store(path)
    try:
        stored = list(reader.results("r1"))
        assert len(stored) == 1200
        assert [r.lineage for r in stored] == sorted(r.lineage for r in stored)
        found = reader.lookup("key-1199")
        assert found is not None and found.result == "text 1199"
        record = reader.find_run("first")
        assert (record.status, record.stats) == ("ok", {"requests": 1200})
    finally:
        reader.close()
        writer.close()


async def test_a_put_returns_only_once_its_result_is_committed(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store = Store(path)
    try:
        start(store, "r1", "first")
        for i in range(20):
            await store.put("r1", 0, f"k{i}", result("a", (i,)))
            # another connection (another process, after a crash) sees it at once
            with closing(sqlite3.connect(path)) as other:
                count = other.execute("SELECT count(*) FROM results").fetchone()[0]
            assert count == i + 1
    finally:
        store.close()


async def test_a_failed_write_surfaces_as_an_execution_error(store: Store) -> None:
    start(store, "r1", "first")
    await store.put("r1", 0, "k0", result("a", (0,)))
    # another program breaks the file under us: every insert of a result now fails
    with closing(sqlite3.connect(store.path)) as other, other:
        other.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON results "
            "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
        )

    with pytest.raises(ExecutionError, match="disk says no") as caught:
        await store.put("r1", 0, "k1", result("a", (1,)))
    assert str(store.path) in str(caught.value)
    assert "run again to resume" in str(caught.value)
    assert "IntegrityError: disk says no" in str(caught.value.__cause__)  # SQLite's own words
    with pytest.raises(ExecutionError, match="disk says no"):  # and so does every later put
        await store.put("r1", 0, "k2", result("a", (2,)))
    assert [r.lineage for r in store.results("r1")] == [(0,)]  # what was committed stays
    with pytest.raises(ExecutionError, match="disk says no"):
        store.flush()  # and the answer the file refused waits in the store's log

    with closing(sqlite3.connect(store.path)) as other, other:
        other.execute("DROP TRIGGER refuse")
    store.flush()  # the file takes it now
    assert [r.lineage for r in store.results("r1")] == [(0,), (1,)]


def test_the_default_path_follows_fanflow_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FANFLOW_STORE", str(tmp_path / "elsewhere" / "my.db"))
    store = Store()
    try:
        assert store.path == tmp_path / "elsewhere" / "my.db"
        assert store.path.exists()
    finally:
        store.close()


async def test_a_cache_hit_is_found_through_the_key_prefix_index(tmp_path: Path) -> None:
    Store(tmp_path / "old.db").close()
    with closing(sqlite3.connect(tmp_path / "old.db")) as old, old:  # as an earlier version
        old.execute("DROP INDEX results_by_key_prefix")
        old.execute("CREATE INDEX results_by_key ON results (key, status)")
    store = Store(tmp_path / "old.db")
    indexes = {name for (name,) in store._reader.execute("SELECT name FROM sqlite_master")}
    assert "results_by_key" not in indexes and "results_by_key_prefix" in indexes
    plan = store._reader.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM results WHERE substr(key, 1, 16)=? AND status='ok'",
        ("0" * 16,),
    ).fetchall()
    assert "results_by_key_prefix" in str(plan)
    start(store, "r1", "first")
    twin = "ab" * 8 + "0" * 48  # shares the first 16 characters with the key below
    await store.put("r1", 0, twin, result("a", (0,), text="twin"))
    await store.put("r1", 0, "ab" * 8 + "1" * 48, result("a", (1,), text="mine"))
    found = store.lookup("ab" * 8 + "1" * 48)
    assert found is not None and found.result == "mine"
    store.close()
