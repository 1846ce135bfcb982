"""Scratch folders for the benches' stores, removed when the bench process exits."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path


def scratch_folder() -> Path:
    """A folder for one run's store (a run leaves ~20 MB behind otherwise)."""
    folder = tempfile.mkdtemp(prefix="fanflow-bench-")
    atexit.register(shutil.rmtree, folder, True)
    return Path(folder)
