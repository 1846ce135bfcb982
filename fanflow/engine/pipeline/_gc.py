"""Cheaper garbage collection while a pipeline runs.

A run allocates ~10 container objects per LLM call that outlive CPython's default young
generation (700 allocations), so the collector runs every few dozen calls and rescans a
heap that only grows (the cost is measured in bench/README.md). While a tuned run lasts,
fanflow freezes the objects that existed before it (they are never garbage of the run)
and raises the young-generation threshold; both are restored when the last concurrent
run ends. The collector belongs to the whole process, so only `Pipeline.run()` (a
script's entry) tunes it by default; `execute()` does when `PipelineConfig(tune_gc=True)`,
and `tune_gc=False` keeps `run()` from it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["relaxed_gc"]

YOUNG_THRESHOLD = 20_000


class _State:
    """The collector is process-wide, so the runs using it are counted process-wide."""

    runs = 0
    saved: tuple[int, int, int] = gc.get_threshold()


@contextmanager
def relaxed_gc(enabled: bool = True) -> Iterator[None]:
    if not enabled:
        yield
        return
    if _State.runs == 0:
        _State.saved = gc.get_threshold()
        gc.freeze()
        first, *older = _State.saved
        gc.set_threshold(max(first, YOUNG_THRESHOLD), *older)
    _State.runs += 1
    try:
        yield
    finally:
        _State.runs -= 1
        if _State.runs == 0:
            gc.set_threshold(*_State.saved)
            gc.unfreeze()
