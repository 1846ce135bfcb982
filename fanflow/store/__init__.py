"""Keeping it: one SQLite file of run records and task results, the cache, resume.

The store knows task results (`fanflow.TaskResult`), content keys and runs; it knows
nothing of pipelines, steps' callbacks or dispatch, and imports nothing from `engine/`.

- `_store`: `Store`, the file: runs, results, cache lookups by content key.
- `_reuse`: cache hits stored as references to the answers, not copies.
- `_keyfilter`, `_shared_keys`: the compact filter of stored keys in front of cache
  lookups, one per file in a process.
- `_writer` (`Writes`), `_logs` (the log files, their frames, recovery), `_writer_child`
  (the child process that commits a log to SQLite in large transactions) and
  `_writer_process` (the engine's handle on that child): results appended by the event
  loop to a log, committed a few times a second; logs left by dead processes, recovered.
- `_records`: how run records and results look on disk, and back.
- `_paths`: the store's path, made absolute and checked before SQLite opens it.
- `_liveness`: lock files that tell a killed run from a running one.
- `_claims`: claims on tasks between processes running on one store at once.
- `_keys`: content keys, what makes two tasks the same request.
- `_runs`: a new run's identity; the list of past runs.
- `_batches`: `SubmittedBatches`, Batch API lines submitted and not yet answered.
- `_merge`: `copy_results`, a run copied from another store file (sharded runs).
- `_timings`: `step_timings`, where each step's time went (durations, latency percentiles).
"""

from __future__ import annotations

from fanflow.store._batches import SubmittedBatches
from fanflow.store._claims import KeyClaims
from fanflow.store._keys import task_key
from fanflow.store._merge import StepProgress, copy_results, run_progress
from fanflow.store._records import RunRecord
from fanflow.store._runs import new_run_identity, runs
from fanflow.store._store import DEFAULT_PATH, Store, default_store_path
from fanflow.store._timings import StepTimings, step_timings

__all__ = [
    "DEFAULT_PATH",
    "KeyClaims",
    "RunRecord",
    "StepProgress",
    "StepTimings",
    "Store",
    "SubmittedBatches",
    "copy_results",
    "default_store_path",
    "new_run_identity",
    "run_progress",
    "runs",
    "step_timings",
    "task_key",
]
