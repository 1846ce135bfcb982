"""Whether a run recorded as running still has a process behind it.

A run killed outright (`kill -9`, a power cut, an out-of-memory kill) never gets to record
how it ended, so its record would say "running" for ever. While it runs, the process
holds an exclusive `flock` on a small file of its own beside the store
(`<store>.locks/<run id>`); the kernel drops the lock when the process dies, however it
dies. A reader that finds a "running" record whose lock it can take knows the run is
dead. `flock` locks belong to an open file, so the same process asking through another
open file also sees the run as alive.

Where `fcntl` does not exist (Windows) no lock is taken and every "running" record is
believed.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["RunLocks"]


class RunLocks:
    """The lock files of one store's runs: held by the runs of this process, probed for others."""

    def __init__(self, store_path: Path) -> None:
        self.folder = store_path.with_name(store_path.name + ".locks")
        self._held: dict[str, IO[bytes]] = {}

    def hold(self, run_id: str) -> None:
        """Take the run's lock for as long as this process runs it."""
        if fcntl is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        handle = open(self._file(run_id), "wb")  # noqa: SIM115 - held until release()
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._held[run_id] = handle

    def release(self, run_id: str) -> None:
        """The run has ended and says so itself: drop and remove its lock."""
        handle = self._held.pop(run_id, None)
        if handle is None:
            return
        self._file(run_id).unlink(missing_ok=True)
        handle.close()

    def close(self) -> None:
        """Let go of every lock still held: those runs did not finish, so they read as dead."""
        for handle in self._held.values():
            handle.close()
        self._held.clear()

    def is_dead(self, run_id: str) -> bool:
        """True if no process holds the run's lock (it died without recording its end)."""
        if fcntl is None or run_id in self._held:
            return False
        try:
            handle = open(self._file(run_id), "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            return True
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            self._file(run_id).unlink(missing_ok=True)  # ours now, and nobody will take it again
            return True

    def _file(self, run_id: str) -> Path:
        return self.folder / run_id
