"""`copy_results`: one run's results copied from another store file into a run of this one.

A sharded run (`engine/pipeline/_ray_run`) keeps each shard's results in the shard's own
file; at the end the driver copies them under its own run id with one SQL statement per
shard, inside SQLite (the shard file is attached; nothing goes through Python rows). The
shard's references to answers of its earlier runs (`_reuse`) are copied as the answers
they stand for, so the driver's run holds plain rows and depends on no shard file.
`run_progress` reads what a shard has saved so far, for the driver's progress display.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from fanflow.store._reuse import results_query

__all__ = ["StepProgress", "copy_results", "run_progress"]

_COLUMNS = (
    "step_index, step, lineage, key, status, result, error, inputs, context, prompt_tokens,"
    " completion_tokens, requests, model, cost, cached, finish_reason, queued, started,"
    " finished, latency, attempts"
)


def copy_results(source: Path, source_run: str, target: Path, target_run: str) -> int:
    """Copy run `source_run` of the store file `source` into `target` as `target_run`'s
    results; returns how many rows were copied."""
    query, params = results_query(source_run, None, None)
    # Opened on the source, so `results_query`'s unqualified tables are the source's.
    connection = sqlite3.connect(source, timeout=30.0)
    try:
        connection.execute("ATTACH DATABASE ? AS target", (str(target),))
        with connection:
            copied = connection.execute(
                f"INSERT INTO target.results SELECT ?, {_COLUMNS} FROM ({query})",
                [target_run, *params],
            )
        return int(copied.rowcount)
    finally:
        connection.close()


StepProgress = dict[int, tuple[int, int, int]]
"""(done, failed, cached) tasks so far, by step index."""


def run_progress(path: Path, run_name: str) -> StepProgress:
    """What the running run named `run_name` in the store file `path` (written by another
    process) has saved so far, by step; empty if it has not started or the file is busy."""
    if not path.exists():
        return {}
    connection = sqlite3.connect(path, timeout=1.0)
    try:
        found = connection.execute(
            "SELECT id FROM runs WHERE name=? AND status='running'", (run_name,)
        ).fetchone()
        if found is None:
            return {}
        progress = {
            int(step): (int(done), int(failed or 0), int(cached or 0))
            for step, done, failed, cached in connection.execute(
                "SELECT step_index, count(*), sum(status NOT IN ('ok', 'filtered')),"
                " sum(cached) FROM results WHERE run_id=? GROUP BY step_index",
                found,
            )
        }
        for step, reused in connection.execute(
            "SELECT step_index, count(*) FROM reused WHERE run_id=? GROUP BY step_index", found
        ):
            done, failed, cached = progress.get(int(step), (0, 0, 0))
            progress[int(step)] = (done + int(reused), failed, cached + int(reused))
        return progress
    except sqlite3.Error:  # being created, or locked for longer than a poll waits
        return {}
    finally:
        connection.close()
