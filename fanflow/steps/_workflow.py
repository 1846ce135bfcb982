"""The workflow document: pydantic models whose JSON is Dria's `dria_workflows` schema.

A `Workflow` validates itself whenever it is constructed or loaded (see `_validation`), and
every failure, structural or semantic, is a `ConfigurationError` naming the task and the fix.
`model_dump_json()` writes the Dria document (aliases, e.g. `schema`) and is deterministic:
memory keys are kept sorted, so the same workflow always gives the same bytes.
`canonical_json()` is the form used for hashing and caching.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any, ClassVar, TypeVar

import orjson
from pydantic import Field, ValidationError, field_validator, model_validator
from typing_extensions import Self

from fanflow._exceptions import ConfigurationError
from fanflow.steps._enums import Operator
from fanflow.steps._parts import Config, Edge, ReturnValue, Task, WorkflowPart, trusted_constructor
from fanflow.steps._validation import check_workflow

__all__ = ["Workflow", "checked_workflow", "with_memory"]

_LOADING: ContextVar[bool] = ContextVar("fanflow_loading_a_workflow", default=False)
"""True inside `Workflow.model_validate(_json)`: the document was loaded, not written with
`Workflow(...)` or a builder, so a branch naming no task is Dria's way to end (warned).
A context variable, not pydantic's validation context, which `__init__` does not pass on."""


class Workflow(WorkflowPart):
    """A validated workflow document. Construct it with `WorkflowBuilder` or load Dria JSON."""

    config: Config = Field(default_factory=Config)
    external_memory: dict[str, str | list[str]] | None = None
    tasks: list[Task] = Field(default_factory=list)
    steps: list[Edge] = Field(default_factory=list)
    return_value: ReturnValue | None = None

    from_prompt: ClassVar[Callable[..., Workflow]]
    """`Workflow.from_prompt(template, *, schema=None, system=None, **inputs)`: the one-task
    workflow that sends one prompt with `inputs` filled in (`steps/_prompt.py`)."""

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _as_configuration_error(exc, data) from None

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Self:
        """Load a document. As in Dria, a branch naming no task ends the workflow (warned);
        one that can produce nothing is refused (`_check_produces`)."""
        token = _LOADING.set(True)
        try:
            return _check_produces(super().model_validate(obj, **kwargs))
        except ValidationError as exc:
            raise _as_configuration_error(exc, obj) from None
        finally:
            _LOADING.reset(token)

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **kwargs: Any) -> Self:
        """Load a JSON document, as `model_validate` does."""
        token = _LOADING.set(True)
        try:
            return _check_produces(super().model_validate_json(json_data, **kwargs))
        except ValidationError as exc:
            raise _as_configuration_error(exc, _loaded(json_data)) from None
        finally:
            _LOADING.reset(token)

    @field_validator("external_memory")
    @classmethod
    def _sort_memory(
        cls, memory: dict[str, str | list[str]] | None
    ) -> dict[str, str | list[str]] | None:
        return None if memory is None else dict(sorted(memory.items()))

    @model_validator(mode="after")
    def _check(self) -> Self:
        check_workflow(self, open_branches=_LOADING.get())
        return self

    @classmethod
    def from_checked_parts(cls, **parts: Any) -> Workflow:
        """A workflow from already-validated parts: semantic checks only, no re-validation.

        For builders: pydantic re-validating every nested model of every task's workflow
        costs more CPU than running the task. `external_memory` must already be sorted.
        """
        if cls is Workflow and parts.keys() == _WORKFLOW_FIELDS:
            return checked_workflow(**parts)
        workflow = cls.model_construct(**parts)
        check_workflow(workflow)
        return workflow

    def model_dump_json(self, **kwargs: Any) -> str:
        """The Dria document; nulls are left out (as Dria's `save` does) unless asked for."""
        kwargs.setdefault("exclude_none", True)
        return super().model_dump_json(**kwargs)

    def task(self, task_id: str) -> Task:
        """The task with this id; `ConfigurationError` if there is none."""
        for task in self.tasks:
            if task.id == task_id:
                return task
        known = ", ".join(t.id for t in self.tasks)
        raise ConfigurationError(f"workflow has no task {task_id!r}; its tasks are: {known}")

    def canonical_json(self) -> bytes:
        """Key-sorted JSON without nulls: the same workflow always hashes the same."""
        data = self.model_dump(mode="json", exclude_none=True)
        return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


_WORKFLOW_FIELDS = frozenset(Workflow.model_fields)
_new_workflow = trusted_constructor(Workflow, *Workflow.model_fields)


def checked_workflow(
    config: Config,
    external_memory: dict[str, str | list[str]] | None,
    tasks: list[Task],
    steps: list[Edge],
    return_value: ReturnValue | None,
) -> Workflow:
    """`Workflow.from_checked_parts` with every part given, as `WorkflowBuilder.build` has."""
    workflow = _new_workflow(config, external_memory, tasks, steps, return_value)
    check_workflow(workflow)
    return workflow


def with_memory(workflow: Workflow, memory: dict[str, str]) -> Workflow:
    """A copy of a checked `workflow` whose memory holds other values under the same keys
    (given in sorted order): the checks read only the keys, so it is not checked again."""
    return _new_workflow(
        workflow.config, memory, workflow.tasks, workflow.steps, workflow.return_value
    )


_W = TypeVar("_W", bound=Workflow)


def _check_produces(workflow: _W) -> _W:
    """A loaded document with no task to run or no `return_value` would run as ok and
    give '' for every task: refuse it. (Builders check their own documents as they go.)"""
    if not any(task.operator != Operator.END for task in workflow.tasks):
        raise ConfigurationError(
            "the workflow document has no tasks to run (only an end task, or tasks: []), "
            "so it would produce nothing; add a task, e.g. a generation task"
        )
    if workflow.return_value is None:
        raise ConfigurationError(
            "the workflow document has no return_value, so every run would give ''; add "
            '"return_value": {"input": {"type": "read", "key": "<memory key>"}} naming the '
            "memory key that holds the result"
        )
    return workflow


def _as_configuration_error(exc: ValidationError, data: Any) -> ConfigurationError:
    """Turn pydantic's report into one `ConfigurationError`, keeping our own unchanged."""
    problems: list[str] = []
    for error in exc.errors():
        original = (error.get("ctx") or {}).get("error")
        if isinstance(original, ConfigurationError):
            return original
        problems.append(f"{_where(error['loc'], data)}: {error['msg']}")
    return ConfigurationError(
        "invalid workflow document: "
        + "; ".join(problems)
        + ". Fix these fields and load it again."
    )


def _where(loc: tuple[int | str, ...], data: Any) -> str:
    """The error's location, naming the task or edge by its ids rather than by position."""
    where = ".".join(str(part) for part in loc) or "workflow"
    if len(loc) < 2 or loc[0] not in ("tasks", "steps") or not isinstance(data, Mapping):
        return where
    items, index = data.get(loc[0]), loc[1]
    if not isinstance(items, list) or not isinstance(index, int) or index >= len(items):
        return where
    item = items[index]
    if not isinstance(item, Mapping):
        return where
    if loc[0] == "tasks":
        return f"{where} (task {item.get('id')!r})"
    return f"{where} (edge {item.get('source')!r} -> {item.get('target')!r})"


def _loaded(json_data: str | bytes | bytearray) -> Any:
    """The document as plain data, for error messages; None when it is not JSON at all."""
    try:
        return orjson.loads(json_data)
    except orjson.JSONDecodeError:
        return None
