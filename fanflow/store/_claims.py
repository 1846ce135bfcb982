"""Claims on tasks between processes that run on one store at the same time.

A process about to send a task while another live run shares the store claims the task's
content key: an exclusive `flock` on `<store>.locks/keys/<key>`, held until the answer is
committed and then dropped with the file. Another process that finds the key claimed does
not send it: it waits until the claim is gone and reads the answer from the store (or,
if the claimant died, and the kernel dropped its lock with it, sends the task itself).

Claims cost a file per task (a create and an unlink, about 100 µs on ext4), so a run takes
them only while another live run shares its store. A run that starts claiming writes
`<store>.locks/<run id>.sharing` once it holds claims on every task it already has in
flight, so that a run that starts later can wait for that before it claims anything.

Where `fcntl` does not exist (Windows), no claim is taken, and every task is sent.
"""

from __future__ import annotations

import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["KeyClaims"]


class KeyClaims:
    """The claims one process holds on the tasks of one store."""

    def __init__(self, locks_folder: Path) -> None:
        self.locks_folder = locks_folder
        self.folder = locks_folder / "keys"
        self._held: dict[str, int] = {}
        self._announced: set[Path] = set()

    def try_claim(self, key: str) -> bool:
        """Claim `key`; False if another process holds it."""
        if fcntl is None or key in self._held:
            return True
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / key
        while True:
            handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(handle)
                return False
            if _same_file(path, handle):
                self._held[key] = handle
                return True
            os.close(handle)  # its holder removed it as we opened it: claim the new one

    def release(self, key: str) -> None:
        """Drop the claim on `key`, if held (after its answer is committed)."""
        handle = self._held.pop(key, None)
        if handle is not None:
            (self.folder / key).unlink(missing_ok=True)  # before the lock goes: see try_claim
            os.close(handle)

    def announce(self, run_id: str) -> None:
        """Say that run `run_id` claims every task it sends from now on."""
        marker = self._marker(run_id)
        marker.touch()
        self._announced.add(marker)

    def announced(self, run_id: str) -> bool:
        return fcntl is None or self._marker(run_id).exists()

    def close(self) -> None:
        for key in list(self._held):
            self.release(key)
        for marker in self._announced:
            marker.unlink(missing_ok=True)
        self._announced.clear()

    def _marker(self, run_id: str) -> Path:
        return self.locks_folder / f"{run_id}.sharing"


def _same_file(path: Path, handle: int) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(handle).st_ino
    except FileNotFoundError:
        return False
