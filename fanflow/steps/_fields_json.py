"""A workflow as orjson writes its models' fields (nulls included): what content keys hash.

Fields come in declaration order however a model was made (validated, built by
`WorkflowBuilder`, copied), so the same workflow always gives the same bytes; see
`store/_keys.py`. Two things keep this cheap per task:

- orjson turns each model into its field dict through `BaseModel`'s own `__dict__`
  descriptor, a C function, rather than a Python callback (a workflow holds a dozen
  models); it refuses anything else as the callback did (which then runs, to fail or
  succeed exactly as before).
- Parts that the workflows of many tasks share and that nothing changes (a `Prompt`'s
  tasks, edges, return value and config, the same objects in each task's workflow) are
  written once, when `share_parts` is given them, and spliced in as written.
"""

from __future__ import annotations

import threading
from typing import Any

import orjson
from pydantic import BaseModel

from fanflow.steps._workflow import Workflow

__all__ = ["fields_json", "share_parts", "workflow_fields_json"]

_model_fields = BaseModel.__dict__["__dict__"].__get__
"""`model.__dict__` for a pydantic model, `TypeError` for anything else; a C function."""

_SHARED_LIMIT = 1024
"""At most this many workflows' shared parts are kept (the oldest go first): a process
making `Prompt`s without end (one per web request, say) keeps a bounded set alive."""


class _SharedParts:
    """One workflow's shared parts, kept alive (so their ids stay theirs), and their JSON."""

    __slots__ = ("config", "config_json", "fragments", "return_value", "steps", "tasks")

    def __init__(self, fields: dict[str, Any]) -> None:
        self.tasks, self.steps = fields["tasks"], fields["steps"]
        self.return_value, self.config = fields["return_value"], fields["config"]
        self.fragments = {
            name: orjson.Fragment(fields_json(fields[name]))
            for name in ("tasks", "steps", "return_value")
        }
        self.config_json = orjson.Fragment(fields_json(self.config))


_SHARED: dict[int, _SharedParts] = {}
"""By the id of their `tasks` list; read without a lock (`dict.get` is atomic)."""
_SHARING = threading.Lock()


def fields_json(value: Any) -> bytes:
    """`value` in JSON, pydantic models as their fields' dicts."""
    try:
        return orjson.dumps(value, default=_model_fields)
    except TypeError:  # not JSON: as the Python callback says, with its message
        return orjson.dumps(value, default=_fields)


def share_parts(workflow: Workflow) -> None:
    """Write `workflow`'s tasks, edges, return value and config once, for every workflow
    that holds these very objects. The caller promises that nothing changes them: a
    change would not show in the keys of the workflows that hold them."""
    fields = _model_fields(workflow)
    parts = _SharedParts(fields)
    with _SHARING:
        if len(_SHARED) >= _SHARED_LIMIT:
            del _SHARED[next(iter(_SHARED))]
        _SHARED[id(fields["tasks"])] = parts


def workflow_fields_json(workflow: Workflow) -> bytes:
    """`fields_json(workflow)`, with the parts given to `share_parts` as written then."""
    fields: dict[str, Any] = _model_fields(workflow)
    shared = _SHARED.get(id(fields.get("tasks")))
    if (
        shared is None
        or shared.tasks is not fields["tasks"]
        or shared.steps is not fields.get("steps")
        or shared.return_value is not fields.get("return_value")
    ):
        return fields_json(workflow)
    spliced = {**fields, **shared.fragments}  # the same keys, in the same order
    if fields.get("config") is shared.config:
        spliced["config"] = shared.config_json
    return fields_json(spliced)


def _fields(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.__dict__
    raise TypeError(f"{type(value).__name__} is not JSON")
