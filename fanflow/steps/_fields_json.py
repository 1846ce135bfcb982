"""A workflow as orjson writes its models' fields (nulls included): what content keys hash.

Fields come in declaration order however a model was made (validated, built by
`WorkflowBuilder`, copied), so the same workflow always gives the same bytes; see
`store/_keys.py`. Two things keep this cheap per task:

- orjson turns each model into its field dict through `BaseModel`'s own `__dict__`
  descriptor, a C function, rather than a Python callback (a workflow holds a dozen
  models); it refuses anything else as the callback did (which then runs, to fail or
  succeed exactly as before).
- Parts that the workflows of many tasks share and that nothing changes (a `Prompt`'s
  tasks, edges, return value and config, the same objects in each task's workflow, and
  the config its step's params and tools make from that one) are written once, when
  `share_parts` (`share_config`) is given them, and spliced in as written.
"""

from __future__ import annotations

import threading
from typing import Any

import orjson
from pydantic import BaseModel

from fanflow.steps._parts import Config
from fanflow.steps._workflow import Workflow

__all__ = [
    "fields_json",
    "has_shared_config",
    "share_config",
    "share_parts",
    "workflow_fields_json",
]

_model_fields = BaseModel.__dict__["__dict__"].__get__
"""`model.__dict__` for a pydantic model, `TypeError` for anything else; a C function."""

_SHARED_LIMIT = 1024
"""At most this many workflows' shared parts are kept (the oldest go first): a process
making `Prompt`s without end (one per web request, say) keeps a bounded set alive."""


class _SharedParts:
    """One workflow's shared parts, kept alive (so their ids stay theirs), and their JSON;
    `configs` by id: its config and those a step makes from it (`share_config`)."""

    __slots__ = ("configs", "fragments", "return_value", "steps", "tasks")

    def __init__(self, fields: dict[str, Any]) -> None:
        self.tasks, self.steps = fields["tasks"], fields["steps"]
        self.return_value = fields["return_value"]
        self.fragments = {
            name: orjson.Fragment(fields_json(fields[name]))
            for name in ("tasks", "steps", "return_value")
        }
        self.configs: dict[int, tuple[Config, orjson.Fragment]] = {}
        self.add_config(fields["config"])

    def add_config(self, config: Config) -> None:
        if len(self.configs) >= _CONFIGS_LIMIT:
            self.configs.clear()  # a step whose params keep changing: start again
        self.configs[id(config)] = (config, orjson.Fragment(fields_json(config)))

    def holds(self, fields: dict[str, Any]) -> bool:
        """Whether a workflow with these fields holds these very parts."""
        return (
            self.tasks is fields["tasks"]
            and self.steps is fields.get("steps")
            and self.return_value is fields.get("return_value")
        )


_SHARED: dict[int, _SharedParts] = {}
"""By the id of their `tasks` list; read without a lock (`dict.get` is atomic)."""
_SHARING = threading.Lock()
_CONFIGS_LIMIT = 16


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


def has_shared_config(workflow: Workflow) -> bool:
    """Whether `workflow` holds shared parts (`share_parts`) and one of their configs:
    one that nothing changes, so a config made from it may be made once."""
    fields = _model_fields(workflow)
    shared = _shared_parts(fields)
    return shared is not None and _shared_config(shared, fields) is not None


def share_config(workflow: Workflow, config: Config) -> None:
    """Write `config` once, for the workflows holding it and `workflow`'s shared parts;
    `config` is made from one of theirs (`has_shared_config`), and nothing changes it."""
    fields = _model_fields(workflow)
    shared = _shared_parts(fields)
    if shared is not None:
        with _SHARING:
            shared.add_config(config)


def workflow_fields_json(workflow: Workflow) -> bytes:
    """`fields_json(workflow)`, with the parts given to `share_parts` as written then."""
    fields: dict[str, Any] = _model_fields(workflow)
    shared = _shared_parts(fields)
    if shared is None:
        return fields_json(workflow)
    spliced = {**fields, **shared.fragments}  # the same keys, in the same order
    config = _shared_config(shared, fields)
    if config is not None:
        spliced["config"] = config
    return fields_json(spliced)


def _shared_parts(fields: dict[str, Any]) -> _SharedParts | None:
    shared = _SHARED.get(id(fields.get("tasks")))
    return shared if shared is not None and shared.holds(fields) else None


def _shared_config(shared: _SharedParts, fields: dict[str, Any]) -> orjson.Fragment | None:
    config = fields.get("config")
    known = shared.configs.get(id(config))
    return known[1] if known is not None and known[0] is config else None


def _fields(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.__dict__
    raise TypeError(f"{type(value).__name__} is not JSON")
