"""CPU time for the benches: this process and its children reaped so far.

The store's writer is a child process, reaped when a run's store is flushed, so it counts
in the run it served. A mock server child is reaped after the measurement ends, so its
CPU never counts. Only differences between two readings mean anything.
"""

from __future__ import annotations

import resource
import time


def cpu_seconds() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def cpu_split() -> tuple[float, float]:
    """(this process, its children reaped so far): the engine and the store's writer."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time(), children.ru_utime + children.ru_stime
