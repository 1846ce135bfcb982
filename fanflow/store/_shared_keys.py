"""The keys of one store file's reusable results, shared by every `Store` on it in a process;
likewise its reusable rows not yet committed (`shared_pending`).

Two runs on one store in one process (two pipelines awaited together) must see each
other's answers as soon as they are put. If each `Store` loaded its own filter once, a run
would miss the keys the other run put after that, and send again a task the other had
just answered (and released from the in-flight registry, `engine/pipeline/_sharing.py`).
So the filter is kept per file while some `Store` uses it (a weak reference), and a `Store`
that opens it later tops it up with the rows written since, by any process, reading only
the rows whose rowid is above the highest it has read.
"""

from __future__ import annotations

import sqlite3
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

from fanflow.store._keyfilter import KeyFilter

if TYPE_CHECKING:
    from fanflow.store._logs import Frame

__all__ = ["PendingRows", "shared_keys", "shared_pending"]

_FILTERS: weakref.WeakValueDictionary[Path, KeyFilter] = weakref.WeakValueDictionary()


class PendingRows(dict[str, "Frame"]):
    """Where reusable result rows written to a log and not yet committed are, by key."""


_PENDING: weakref.WeakValueDictionary[Path, PendingRows] = weakref.WeakValueDictionary()


def shared_pending(path: Path) -> PendingRows:
    """The rows of `path` on their way to SQLite from every store on it in this process,
    so that a run finds another's answers in the cache before they are committed."""
    pending = _PENDING.get(path)
    if pending is None:
        pending = _PENDING[path] = PendingRows()
    return pending


def shared_keys(path: Path, reader: sqlite3.Connection, reusable: str) -> KeyFilter:
    """The filter of `path`'s keys whose rows match `reusable` (SQL), brought up to date."""
    (highest,) = reader.execute("SELECT max(rowid) FROM results").fetchone()
    highest = highest or 0
    known = _FILTERS.get(path)
    if known is None or highest < known.rowid_seen:  # new here, or the file was made anew
        known = _FILTERS[path] = KeyFilter(2 * highest)
    query = f"SELECT key FROM results WHERE rowid > ? AND {reusable}"
    for (stored,) in reader.execute(query, (known.rowid_seen,)):
        if stored:
            known.add(stored)
    known.rowid_seen = highest
    return known
