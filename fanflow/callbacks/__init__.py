"""How one step's results become the next step's inputs (Scatter, Broadcast, Aggregate)."""

from __future__ import annotations

from fanflow._json import parse_json, parse_json_list
from fanflow.callbacks._callbacks import (
    Aggregate,
    Broadcast,
    Callback,
    Each,
    Scatter,
    TemplateCallback,
    as_inputs,
)

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
