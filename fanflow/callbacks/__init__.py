"""How one step's results become the next step's inputs (Scatter, Broadcast, Aggregate).

`_callbacks` holds the `Callback` base (streaming `map`, barrier `reduce`) and the
built-in ones that `StepTemplate`'s fluent methods make; `_functions` the ones that
carry a function step's return value on (and gather a group function's rows). Callbacks
sit below `steps` and import only the task values (`fanflow/_values.py`) and the JSON
parser (`fanflow/_json.py`, whose `parse_json` / `parse_json_list` are re-exported here).
"""

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
from fanflow.callbacks._functions import FunctionOutput, Gather

__all__ = [
    "Aggregate",
    "Broadcast",
    "Callback",
    "Each",
    "FunctionOutput",
    "Gather",
    "Scatter",
    "TemplateCallback",
    "as_inputs",
    "parse_json",
    "parse_json_list",
]
