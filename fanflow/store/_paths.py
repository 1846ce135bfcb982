"""Where a store lives: its path made absolute and checked before SQLite sees it.

The path is resolved against the working directory once, when the store is opened (the
run starts), so a run's results stay readable after the process changes directory. A path
that cannot hold a store is a `ConfigurationError` naming it and what to give instead;
SQLite's own errors ("unable to open database file") name no path.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from fanflow._exceptions import ConfigurationError

__all__ = ["cannot_open", "store_path"]

_WHAT_TO_DO = (
    "give PipelineConfig(store=...) (or FANFLOW_STORE) a writable file path, "
    "or store=False to keep nothing"
)


def store_path(path: Path) -> Path:
    """`path` made absolute, its folder made; `ConfigurationError` if it cannot be a store."""
    absolute = path.expanduser().absolute()
    if absolute.is_dir():
        raise ConfigurationError(
            f"the store path {str(absolute)!r} is a directory; the store is one SQLite file: "
            f"give a file path such as {str(absolute / 'fanflow.db')!r}"
        )
    try:
        absolute.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot make the folder of the store {str(absolute)!r} ({type(exc).__name__}: "
            f"{exc.strerror or exc}); {_WHAT_TO_DO}"
        ) from exc
    return absolute


def cannot_open(path: Path, exc: sqlite3.Error | OSError) -> ConfigurationError:
    """The error for a store file SQLite could not open or set up."""
    return ConfigurationError(
        f"cannot open the store {str(path)!r} ({type(exc).__name__}: {exc}); check that it "
        f"is a fanflow store and writable, or {_WHAT_TO_DO}"
    )
