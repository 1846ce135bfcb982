"""One task to run: the dispatcher's unit of work (also made by `_joins.GraphFlow`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fanflow._values import Lineage

__all__ = ["Work"]


@dataclass(slots=True)
class Work:
    step: int
    fields: Mapping[str, Any]
    context: Mapping[str, Any]
    lineage: Lineage
    root: int
    unusable: str | None = None  # an input row that could not be read: fail it with this
    queued: float = 0.0  # time.time() when it joined the dispatcher's queue (TaskTiming)
    started: float = 0.0  # when a worker took it; 0.0 until then
