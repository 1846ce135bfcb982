"""The embedded store: one SQLite file with run records and every task result.

Default place: `.fanflow/fanflow.db` under the working directory; `FANFLOW_STORE` or
`PipelineConfig(store=path)` moves it. A run's results are appended to a log file that a
child process copies into SQLite in large transactions, in WAL mode (`_writer`, `_logs`),
so the loop never waits on SQLite and shares no GIL with it; a run's `put` returns once
its result is in the log, which is what lets a crash lose at most the tasks in flight.
A log left by processes that died is committed by the next `Store` opened on the file.
Ok results double as the cache: a task whose content key (see `_keys`) was answered
before is not sent again, even while its answer is still in a log.

Schema: `runs` (one record per `execute()`), `results` (one row per task a run answered
itself, or failed, with its content key) and `reused` (one small row per cache hit: a
reference to the `results` row holding the answer, see `_reuse`). A resumed run so adds
a reference per task it took from the cache, never a copy of the answer: four resumes
of a finished run add no row to `results`. Stores made before `reused` existed open and
read as before (their cached results are plain copies in `results`); the table is added
when they are opened.

The path is made absolute when the store opens (`_paths`), so a run's results stay
readable after the process changes directory.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from fanflow._exceptions import ConfigurationError, ExecutionError
from fanflow._values import TaskResult, TaskStatus
from fanflow.store._keyfilter import KeyFilter
from fanflow.store._liveness import RunLocks
from fanflow.store._paths import cannot_open, store_path
from fanflow.store._records import (
    RunRecord,
    lineage_text,
    record_from_row,
    result_from_row,
    result_row,
)
from fanflow.store._reuse import REUSE_SCHEMA, Source, materialize_sql, results_query, reuse_row
from fanflow.store._shared_keys import PendingRows, shared_keys, shared_pending
from fanflow.store._timings import StepTimings, stored_step_timings

if TYPE_CHECKING:
    from fanflow.store._writer import Writes

__all__ = ["DEFAULT_PATH", "Store", "default_store_path"]

DEFAULT_PATH = Path(".fanflow") / "fanflow.db"

# What a later task with the same key takes instead of running: ok answers, and function
# steps' filtered inputs (their function returned None; calling it again would too).
_REUSED = frozenset({TaskStatus.OK, TaskStatus.FILTERED})
_REUSABLE = "status IN ('ok', 'filtered')"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, fingerprint TEXT NOT NULL,
    config TEXT NOT NULL, steps TEXT NOT NULL, status TEXT NOT NULL,
    started_at REAL NOT NULL, ended_at REAL, stats TEXT
);
CREATE TABLE IF NOT EXISTS results (
    run_id TEXT NOT NULL, step_index INTEGER NOT NULL, step TEXT NOT NULL,
    lineage TEXT NOT NULL, key TEXT NOT NULL, status TEXT NOT NULL, result TEXT NOT NULL,
    error TEXT, inputs BLOB NOT NULL, context BLOB NOT NULL, prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL, requests INTEGER NOT NULL, model TEXT,
    cost REAL NOT NULL, cached INTEGER NOT NULL, finish_reason TEXT,
    queued REAL, started REAL, finished REAL, latency REAL, attempts INTEGER,
    PRIMARY KEY (run_id, step_index, lineage)
);
DROP INDEX IF EXISTS results_by_key;
CREATE INDEX IF NOT EXISTS results_by_key_prefix ON results (substr(key, 1, 16));
CREATE TABLE IF NOT EXISTS log_tails (log TEXT PRIMARY KEY, offset INTEGER NOT NULL);
"""
# Keys are hex digests, so their first 16 characters (64 bits) are as good as the whole
# for finding a row (the lookup still compares the whole key). Indexing only those keeps
# the index about a quarter of the size, which the writer inserts every result's random
# key into. A store made by an earlier version gets its old index replaced on opening.


def default_store_path() -> Path:
    """`FANFLOW_STORE` if set, else `.fanflow/fanflow.db` under the working directory."""
    return Path(os.environ.get("FANFLOW_STORE") or DEFAULT_PATH)


class Store:
    """Run records and task results in one SQLite file; safe to use from one event loop."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = store_path(Path(path) if path is not None else default_store_path())
        try:
            self._reader = _connect(self.path)
            _unless_locked(lambda: self._reader.executescript(_SCHEMA + REUSE_SCHEMA))
            _unless_locked(lambda: _add_missing_columns(self._reader))
            _recover(self.path, self._reader)
        except sqlite3.Error as exc:
            raise cannot_open(self.path, exc) from exc
        self._pending = shared_pending(self.path)
        self._writes = _writes(self.path, self._pending)
        self._locks = RunLocks(self.path)
        self._known: KeyFilter | None = None
        self._hits: dict[str, Source] = {}  # cache hits not yet put, by key

    # -- runs ---------------------------------------------------------------------------
    def start_run(
        self, run_id: str, name: str, fingerprint: str, config: Mapping[str, Any], steps: list[str]
    ) -> None:
        """Record a new run. A name used before moves to this run (so re-running a named
        pipeline resumes under its name); the older run keeps its id and results, and its
        record is renamed `name@id`. The run holds a lock until `finish_run` (see
        `_liveness`), so a run whose process died unannounced reads as interrupted."""
        self._locks.hold(run_id)
        with self._reader:
            self._reader.execute("UPDATE runs SET name = name || '@' || id WHERE name=?", (name,))
            self._reader.execute(
                "INSERT INTO runs VALUES (?,?,?,?,?,'running',strftime('%s','now'),NULL,NULL)",
                (run_id, name, fingerprint, _json(config), _json(steps)),
            )

    def finish_run(self, run_id: str, status: str, stats: Mapping[str, Any]) -> None:
        with self._reader:
            self._reader.execute(
                "UPDATE runs SET status=?, ended_at=strftime('%s','now'), stats=? WHERE id=?",
                (status, _json(stats), run_id),
            )
        self._locks.release(run_id)

    def runs(self) -> list[RunRecord]:
        """Every run, newest first."""
        rows = self._reader.execute("SELECT * FROM runs ORDER BY started_at DESC, rowid DESC")
        return [self._checked(record_from_row(row)) for row in rows.fetchall()]

    def find_run(self, id_or_name: str) -> RunRecord:
        row = self._reader.execute(
            "SELECT * FROM runs WHERE id=? OR name=?", (id_or_name, id_or_name)
        ).fetchone()
        if row is None:
            known = ", ".join(r.name for r in self.runs()[:10]) or "none yet"
            raise ConfigurationError(
                f"no run named {id_or_name!r} in {self.path}; recent runs: {known}"
            )
        return self._checked(record_from_row(row))

    def _checked(self, record: RunRecord) -> RunRecord:
        """A "running" record whose process is gone is recorded, and returned, as interrupted."""
        if record.status != "running" or not self._locks.is_dead(record.id):
            return record
        with self._reader:
            self._reader.execute(
                "UPDATE runs SET status='interrupted' WHERE id=? AND status='running'",
                (record.id,),
            )
        return dataclasses.replace(record, status="interrupted")

    # -- results ------------------------------------------------------------------------
    def lookup(self, key: str) -> TaskResult | None:
        """An ok result stored under this content key, if any (the cache).

        The keys of stored ok results are loaded once into a compact filter (about 5 MB
        per million keys, `_keyfilter`), so a miss, every task of a fresh run, costs no
        SQL query but for the filter's rare false positives.
        """
        found = self.lookup_origin(key)
        return None if found is None else found[0]

    def lookup_origin(self, key: str) -> tuple[TaskResult, str] | None:
        """`lookup`, with the id of the run that stored the result."""
        if self._known is None:
            self._known = self._load_keys()
        if not key or key not in self._known:
            return None
        frame = self._pending.get(key)
        row = None if frame is None else frame.row(key)
        if row is not None:  # answered moments ago: in a log, not yet in SQLite
            return self._origin(key, [row])
        # The whole key is compared here: with `key=?` in the query, SQLite's planner
        # substitutes it into the indexed expression and scans instead.
        rows = self._reader.execute(
            f"SELECT * FROM results WHERE substr(key, 1, 16)=? AND {_REUSABLE}", (key[:16],)
        )
        return self._origin(key, rows)

    def lookup_fresh(self, key: str) -> tuple[TaskResult, str] | None:
        """`lookup_origin` from the file itself, for results another process just wrote."""
        rows = self._reader.execute(
            f"SELECT * FROM results WHERE substr(key, 1, 16)=? AND {_REUSABLE}", (key[:16],)
        ).fetchall()
        return self._origin(key, rows)

    def _origin(self, key: str, rows: Iterable[tuple[Any, ...]]) -> tuple[TaskResult, str] | None:
        """The result under `key` among `rows`, remembered until its `put` (a reference)."""
        # The row of the run that answered it, not a later run's copy (`cached` is 0).
        row = min((row for row in rows if row[4] == key), key=lambda row: row[15], default=None)
        if row is None:
            return None
        found = result_from_row(row)
        if len(self._hits) > _MAX_HITS:
            self._hits.clear()  # hits whose task never got put (cancelled): forget them
        self._hits[key] = Source(row[0], row[1], found)
        return found, row[0]

    def others_running(self, besides: set[str]) -> list[str]:
        """Ids of runs still running in a live process, other than those in `besides`."""
        rows = self._reader.execute("SELECT id FROM runs WHERE status='running'").fetchall()
        others = [run_id for (run_id,) in rows if run_id not in besides]
        return [run_id for run_id in others if not self._locks.is_dead(run_id)]

    @property
    def locks_folder(self) -> Path:
        """Where live runs hold their locks (see `_liveness`) and claim tasks (`_claims`)."""
        return self._locks.folder

    def _load_keys(self) -> KeyFilter:
        return shared_keys(self.path, self._reader, _REUSABLE)

    def has(self, run_id: str, step_index: int, lineage: tuple[int, ...]) -> bool:
        """Whether this task's result is on disk (committed before this call)."""
        where = "WHERE run_id=? AND step_index=? AND lineage=?"
        params = (run_id, step_index, lineage_text(lineage))
        return any(
            self._reader.execute(f"SELECT 1 FROM {table} {where}", params).fetchone()
            for table in ("results", "reused")
        )

    async def put(
        self, run_id: str, step_index: int, key: str, result: TaskResult, committed: bool = True
    ) -> None:
        """Store one result; returns once it is committed to SQLite, or with
        `committed=False` (what a run does), once it is in the store's log: on disk, where
        it survives this process, and found by `lookup`, but not yet read by `results`."""
        self._raise_if_failed()
        if result.cached:
            source = self._hits.pop(key, None)
            if (
                source is not None
                and result.status in _REUSED
                and result.result == source.result.result
            ):
                row = reuse_row(run_id, step_index, result, source)
                await self._writes.put(row, committed=committed)
                self._raise_if_failed()
                return
        reusable = bool(key) and result.status in _REUSED
        if reusable and self._known is not None:
            self._known.add(key)
        row = result_row(run_id, step_index, key, result)
        await self._writes.put(row, key if reusable else "", committed)
        self._raise_if_failed()

    def put_nowait(self, run_id: str, step_index: int, key: str, result: TaskResult) -> None:
        """Queue one result without waiting for its commit (`flush()` waits for all)."""
        self._writes.put_nowait(result_row(run_id, step_index, key, result))

    def results(
        self,
        run_id: str,
        step_index: int | None = None,
        ok_only: bool = False,
        *,
        failed_only: bool = False,
        offset: int = 0,
        limit: int | None = None,
    ) -> Iterator[TaskResult]:
        """A run's results in lineage order, read lazily from disk (answers it reused
        from earlier runs included); `offset` and `limit` pick a slice of them."""
        status = "not ok" if failed_only else "ok" if ok_only else None
        query, params = results_query(run_id, step_index, status, offset, limit)
        connection = _connect(self.path)  # its own, so lazy reading blocks nothing else
        try:
            cursor = connection.execute(query, params)
            while batch := cursor.fetchmany(_READ_BATCH):
                yield from map(result_from_row, batch)
        finally:
            connection.close()

    def step_timings(self, run_id: str, steps: list[str]) -> dict[str, StepTimings]:
        """Each step's timings (`_timings`), read from the timing columns alone."""
        return stored_step_timings(self._reader, run_id, steps)

    def count(
        self,
        run_id: str,
        step_index: int | None = None,
        ok_only: bool = False,
        *,
        failed_only: bool = False,
    ) -> int:
        """How many results `results()` would give with the same arguments."""
        status = "not ok" if failed_only else "ok" if ok_only else None
        query, params = results_query(run_id, step_index, status)
        (number,) = self._reader.execute(f"SELECT count(*) FROM ({query})", params).fetchone()
        return int(number)

    def clear(self, run_id: str | None = None) -> int:
        """Forget stored results (of one run, or all): they will be sent again."""
        self._known = None  # reloaded on the next lookup
        self._hits.clear()
        with self._reader:
            if run_id is None:
                dropped = self._reader.execute("DELETE FROM reused").rowcount
                return dropped + self._reader.execute("DELETE FROM results").rowcount
            # Runs that reference this one's answers get copies first: nothing dangles.
            self._reader.execute(*materialize_sql(run_id))
            self._reader.execute("DELETE FROM reused WHERE source_run=?", (run_id,))
            reused = self._reader.execute("DELETE FROM reused WHERE run_id=?", (run_id,))
            own = self._reader.execute("DELETE FROM results WHERE run_id=?", (run_id,))
            return int(reused.rowcount + own.rowcount)

    def flush(self) -> None:
        """Wait until every queued result is committed (the writer restarts when needed).

        A log the writer's child could not finish is committed here if it can be now; if
        not, `ExecutionError` says why, and the log stays for the next store to commit."""
        self._writes.flush()
        if self._writes.failure is None:
            return
        _recover(self.path, self._reader)
        if self._writes.unfinished():
            self._raise_if_failed()
        self._writes.recovered()

    def close(self) -> None:
        """Finish pending writes and close the file (`ExecutionError` if some could not be)."""
        try:
            self.flush()
        finally:
            self._locks.close()
            self._reader.close()

    def _raise_if_failed(self) -> None:
        failure = self._writes.failure
        if failure is not None:
            raise ExecutionError(
                f"could not write results to {self.path}: {failure}; check the disk "
                "and that no other program holds the file, then run again to resume"
            ) from failure


_READ_BATCH = 1024  # rows fetched from SQLite at a time when reading results
_MAX_HITS = 100_000


def _add_missing_columns(connection: sqlite3.Connection) -> None:
    """Bring a store made by an earlier version up to date: columns are only ever added
    at the end, so rows read with `SELECT *` keep their order."""
    for table, added in _ADDED_COLUMNS.items():
        columns = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
        for column in added:  # in order: each one's place is its position here
            if column.split()[0] in columns:
                continue
            try:
                connection.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
            except sqlite3.OperationalError as exc:  # another process added it just now
                if "duplicate column" not in str(exc):
                    raise


# Columns later versions added at the end of a table, oldest first (timings: issue #17).
_TIMING_COLUMNS = ("queued REAL", "started REAL", "finished REAL")
_ADDED_COLUMNS = {
    "results": ("finish_reason TEXT", *_TIMING_COLUMNS, "latency REAL", "attempts INTEGER"),
    "reused": _TIMING_COLUMNS,
}


def _writes(path: Path, pending: PendingRows) -> Writes:
    # Imported when a store opens, not with `import fanflow` (bench/startup.py).
    from fanflow.store._writer import Writes

    return Writes(path, pending)


def _recover(path: Path, connection: sqlite3.Connection) -> None:
    from fanflow.store._logs import recover

    recover(path, connection)


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, check_same_thread=False, timeout=30.0)
    _unless_locked(lambda: connection.execute("PRAGMA journal_mode=WAL"))
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


def _unless_locked(action: Callable[[], object], patience: float = 30.0) -> None:
    """Run `action`, again after a pause while another process holds the file.

    Processes creating one new store at once can deadlock on its locks (each holds a shared
    lock and wants the exclusive one to switch to WAL); SQLite then fails one at once
    without waiting (`database is locked`). Retrying after the others went on resolves it.
    """
    deadline = time.monotonic() + patience
    pause = 0.01
    while True:
        try:
            action()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.5)


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
