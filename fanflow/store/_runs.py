"""Runs as the store knows them: a new run's identity, and the list of past runs."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from fanflow.store._records import RunRecord
from fanflow.store._store import Store

__all__ = ["new_run_identity", "runs"]


def runs(store: str | Path | None = None) -> list[RunRecord]:
    """Every run recorded in the store (default: `.fanflow/fanflow.db`), newest first."""
    return Store(store).runs()


def new_run_identity(name: str | None, first_step: str) -> tuple[str, str]:
    """(id, name): the given name, else the first step and the time, plus a short tag."""
    run_id = secrets.token_hex(6)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return run_id, name or f"{first_step}-{stamp}-{run_id[:4]}"
