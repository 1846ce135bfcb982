"""How one step's results become the next step's inputs (Scatter, Broadcast, Aggregate)."""

from __future__ import annotations

from fanflow.callbacks._callbacks import (
    Aggregate,
    Broadcast,
    Callback,
    Each,
    Scatter,
    TemplateCallback,
    as_inputs,
)
from fanflow.callbacks._parsing import parse_json, parse_json_list

__all__ = [
    "Aggregate",
    "Broadcast",
    "Callback",
    "Each",
    "Scatter",
    "TemplateCallback",
    "as_inputs",
    "parse_json",
    "parse_json_list",
]
