"""Reused answers: a cache hit is stored as a reference to the row that holds the answer.

A resumed run used to copy every cached result into its own rows, so the store grew by a
full copy of the answers with every resume. Now an ok result that came from the cache is
a row of `reused`: the run and position it takes (run, step, lineage), where the answer
is (the source run and step; the lineage is the same, as it is part of the content key),
and, only where they differ from the source's, its step name, inputs and context. Reading
a run's results merges its own rows with its references joined to their sources, in
lineage order, so `load_run`, `result.rows` and `result.steps` see the same results as
before; a reference reads as a cache hit (`cached=True`, no usage, no requests, no cost).

References always point at a row of `results` (the cache is looked up there only), so
there are no chains. `Store.clear` of a source run first copies what it is about to
delete into the runs that reference it, so no reference ever dangles.
"""

from __future__ import annotations

from typing import Any

import orjson

from fanflow._values import TaskResult
from fanflow.store._records import lineage_text

__all__ = [
    "REUSE_SCHEMA",
    "Source",
    "materialize_sql",
    "results_query",
    "reuse_row",
]

REUSE_SCHEMA = """
CREATE TABLE IF NOT EXISTS reused (
    run_id TEXT NOT NULL, step_index INTEGER NOT NULL, lineage TEXT NOT NULL,
    source_run TEXT NOT NULL, source_step INTEGER NOT NULL,
    step TEXT, inputs BLOB, context BLOB, queued REAL, started REAL, finished REAL,
    PRIMARY KEY (run_id, step_index, lineage)
) WITHOUT ROWID;
"""
# No index on source_run: only `Store.clear` looks references up by their source, and
# scanning them then costs less than indexing every one of them as it is written. The
# writer child tells a reference from a result row by its width (11 columns, not 22).
# A reference keeps the reuse's own timing (queued, started, finished in the reusing
# run); its latency and attempts read as 0: it sent nothing.

_OWN = (
    "SELECT run_id, step_index, step, lineage, key, status, result, error, inputs, context,"
    " prompt_tokens, completion_tokens, requests, model, cost, cached, finish_reason,"
    " queued, started, finished, latency, attempts FROM results"
)
# A reference as a result row: the source's answer under the reusing run's position.
_REFERENCED = (
    "SELECT r.run_id, r.step_index, coalesce(r.step, s.step), r.lineage, s.key, s.status,"
    " s.result, s.error, coalesce(r.inputs, s.inputs), coalesce(r.context, s.context),"
    " 0, 0, 0, s.model, 0.0, 1, s.finish_reason, r.queued, r.started, r.finished,"
    " CASE WHEN r.queued IS NULL THEN NULL ELSE 0.0 END, 0 FROM reused r JOIN results s"
    " ON s.run_id = r.source_run AND s.step_index = r.source_step AND s.lineage = r.lineage"
)


class Source:
    """Where a cache hit's answer is stored, kept from `lookup` until its `put`."""

    __slots__ = ("result", "run_id", "step_index")

    def __init__(self, run_id: str, step_index: int, result: TaskResult) -> None:
        self.run_id, self.step_index, self.result = run_id, step_index, result


def reuse_row(run_id: str, step_index: int, result: TaskResult, source: Source) -> tuple[Any, ...]:
    """The `reused` row for `result`, a cache hit on `source`: what differs, nothing more."""
    found, timing = source.result, result.timing
    return (
        run_id,
        step_index,
        lineage_text(result.lineage),
        source.run_id,
        source.step_index,
        None if result.step == found.step else result.step,
        None if result.inputs == found.inputs else orjson.dumps(result.inputs, default=str),
        None if result.context == found.context else orjson.dumps(result.context, default=str),
        *(
            (None, None, None)
            if timing is None
            else (timing.queued, timing.started, timing.finished)
        ),
    )


def results_query(
    run_id: str,
    step_index: int | None,
    status: str | None,
    offset: int = 0,
    limit: int | None = None,
) -> tuple[str, list[Any]]:
    """SQL and parameters for a run's results in lineage order, own rows and references
    merged. `status`: "ok" for ok results only, "not ok" for the failures (neither ok
    nor filtered: a filtered task is not a failure), None for all."""
    own, referenced = f"{_OWN} WHERE run_id=?", f"{_REFERENCED} WHERE r.run_id=?"
    own_params: list[Any] = [run_id]
    if step_index is not None:
        own, referenced = own + " AND step_index=?", referenced + " AND r.step_index=?"
        own_params.append(step_index)
    if status == "ok":
        own += " AND status='ok'"
    elif status == "not ok":
        own += " AND status NOT IN ('ok', 'filtered')"
    # Both sides come in primary-key order, so SQLite merges them without sorting.
    query = own if status == "not ok" else f"{own} UNION ALL {referenced}"
    params = own_params if status == "not ok" else own_params * 2
    query += " ORDER BY 2, 4"
    if limit is not None or offset:
        query += " LIMIT ? OFFSET ?"
        params = [*params, -1 if limit is None else limit, offset]
    return query, params


def materialize_sql(keep_others_of: str) -> tuple[str, tuple[str, ...]]:
    """SQL that copies, into the runs referencing run `keep_others_of`, the answers they
    reference (before that run's rows are deleted)."""
    query = (
        f"INSERT OR REPLACE INTO results {_REFERENCED}"
        " WHERE r.source_run = ? AND r.run_id != r.source_run"
    )
    return query, (keep_others_of,)
