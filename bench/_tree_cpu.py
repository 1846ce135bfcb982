"""CPU time of this process and every process below it, live or reaped, from /proc (Linux).

Ray's processes (GCS, raylet, its workers) are started by the driver and outlive the
calls a bench times, so `RUSAGE_CHILDREN` (reaped children only) misses them: this adds
each live descendant's own times and those of the children it reaped. A descendant that
ended unreaped during the measurement is missed; only differences between two readings
mean anything.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench._cpu import cpu_seconds

_TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(leave_out: int | None = None) -> float:
    """This process (and its reaped children) plus every live descendant's CPU seconds,
    but for the subtree of `leave_out` (a mock server child, say)."""
    live = _descendants(os.getpid(), leave_out)
    return cpu_seconds() + sum(_own_seconds(pid) for pid in live)


def _descendants(root: int, leave_out: int | None) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None:
                parents.setdefault(int(stat[1]), []).append(int(entry.name))
    found, frontier = [], [root]
    while frontier:
        children = [pid for pid in parents.get(frontier.pop(), []) if pid != leave_out]
        found += children
        frontier += children
    return found


def _own_seconds(pid: int) -> float:
    """utime + stime, and cutime + cstime: what its own reaped children used (a Ray
    worker's store writer, say, reaped when the shard ends)."""
    stat = _stat(pid)
    return 0.0 if stat is None else sum(int(field) for field in stat[11:15]) / _TICKS


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name: state, ppid, ... (None if gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()
