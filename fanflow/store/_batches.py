"""`SubmittedBatches`: batch requests sent but not yet answered, kept in the store file.

A Batch API job is paid for when it is submitted. If the process is killed while the job
runs, a new process asking the same requests should collect that job's answers rather
than submit (and pay for) them again. So an adapter records each line it submits (which
batch, which `custom_id`, the request's content key) and deletes it once the line's
answer reached a task; what is left after a crash is what a new process can collect.

The table lives in the store's SQLite file but the store's other code never reads it:
it knows requests and batches, not pipelines. Writes are one statement per batch (not
per task), on the caller's thread, which is why a plain connection is enough here.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from fanflow.store._paths import store_path
from fanflow.store._store import default_store_path

__all__ = ["SubmittedBatches"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batch_lines (
    endpoint TEXT NOT NULL, key TEXT NOT NULL, batch_id TEXT NOT NULL,
    custom_id TEXT NOT NULL, submitted_at REAL NOT NULL,
    PRIMARY KEY (batch_id, custom_id)
);
CREATE INDEX IF NOT EXISTS batch_lines_by_key ON batch_lines (endpoint, key);
"""


class SubmittedBatches:
    """The batch lines submitted to `endpoint`s and not yet answered, in the store at `path`
    (the default store when None). Give it to `OpenAIBatchAdapter(batch_log=...)`."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = store_path(Path(path) if path is not None else default_store_path())
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0)
        with self._lock, self._db:
            self._db.executescript(_SCHEMA)

    def __repr__(self) -> str:
        return f"SubmittedBatches({str(self.path)!r})"

    def record(self, endpoint: str, batch_id: str, lines: Sequence[tuple[str, str]]) -> None:
        """Lines (custom_id, content key) were submitted in `batch_id`."""
        now = time.time()
        rows = [(endpoint, key, batch_id, custom_id, now) for custom_id, key in lines]
        with self._lock, self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO batch_lines "
                "(endpoint, key, batch_id, custom_id, submitted_at) VALUES (?, ?, ?, ?, ?)",
                rows,
            )

    def find(self, endpoint: str, key: str) -> list[tuple[str, str]]:
        """(batch_id, custom_id) of every unanswered line with this content key."""
        with self._lock:
            rows = self._db.execute(
                "SELECT batch_id, custom_id FROM batch_lines WHERE endpoint = ? AND key = ? "
                "ORDER BY submitted_at",
                (endpoint, key),
            ).fetchall()
        return [(str(batch_id), str(custom_id)) for batch_id, custom_id in rows]

    def answered(self, batch_id: str, custom_ids: Sequence[str]) -> None:
        """These lines' answers reached their tasks (or failed them): nothing to collect."""
        with self._lock, self._db:
            self._db.executemany(
                "DELETE FROM batch_lines WHERE batch_id = ? AND custom_id = ?",
                [(batch_id, custom_id) for custom_id in custom_ids],
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
