"""The workflow document: pydantic models whose JSON is Dria's `dria_workflows` schema.

A `Workflow` validates itself whenever it is constructed or loaded (see `_validation`), and
every failure, structural or semantic, is a `ConfigurationError` naming the task and the fix.
`model_dump_json()` writes the Dria document (aliases, e.g. `schema`) and is deterministic:
memory keys are kept sorted, so the same workflow always gives the same bytes.
`canonical_json()` is the form used for hashing and caching.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from typing_extensions import Self

from fanflow._exceptions import ConfigurationError
from fanflow.steps._enums import Expression, InputValueType, Operator, OutputType, PostProcessType
from fanflow.steps._validation import check_workflow

__all__ = [
    "Condition",
    "Config",
    "Edge",
    "Input",
    "InputValue",
    "Message",
    "Output",
    "ReturnValue",
    "SearchQuery",
    "Task",
    "TaskPostProcess",
    "Workflow",
]

END_TASK_ID = "_end"
RESULT_PLACEHOLDER = "__result"


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True, extra="forbid")


_M = TypeVar("_M", bound=BaseModel)


def trusted_constructor(cls: type[_M], *given: str) -> Callable[..., _M]:
    """A function making `cls` from values already known valid, without validation.

    A pipeline builds one workflow per task, and pydantic validation (or `model_construct`'s
    per-field loop) of its dozen small models costs more than all the rest of building it.
    `trusted_constructor(Message, "role", "content")("user", text)` gives what
    `Message(role="user", content=text)` gives when that is valid: the `given` fields
    (positional arguments, in that order) form `model_fields_set`, every other field holds
    its default, and `__dict__` follows the declaration order that `==` and the serializer
    read. Like `dataclasses`, it compiles the function once, here: looping over the fields
    at each call would cost most of what skipping validation saves.
    """
    if cls.__private_attributes__ or cls.__pydantic_post_init__:
        raise TypeError(
            f"trusted_constructor: {cls.__name__} has private attributes or a post-init"
        )
    unknown = set(given) - set(cls.model_fields)
    if unknown:
        raise TypeError(f"trusted_constructor: {cls.__name__} has no fields {sorted(unknown)}")
    # Pydantic field names never start with "_", so these names cannot clash with them.
    namespace: dict[str, Any] = {
        "_cls": cls,
        "_new": object.__new__,
        # `BaseModel`'s slot descriptors, called directly: this bypasses the costly
        # `BaseModel.__setattr__` at half the cost of `object.__setattr__`.
        "_set_fields_set": BaseModel.__dict__["__pydantic_fields_set__"].__set__,
        "_set_extra": BaseModel.__dict__["__pydantic_extra__"].__set__,
        "_set_private": BaseModel.__dict__["__pydantic_private__"].__set__,
    }
    lines = [f"def _construct({', '.join(given)}):", "    _model = _new(_cls)"]
    lines.append("    _fields = _model.__dict__")
    for name, field in cls.model_fields.items():
        if name in given:
            value = name
        elif field.default_factory is not None and not field.default_factory_takes_validated_data:
            namespace[f"_factory_{name}"] = field.default_factory
            value = f"_factory_{name}()"
        elif isinstance(field.default, _SHAREABLE_DEFAULTS):
            namespace[f"_default_{name}"] = field.default
            value = f"_default_{name}"
        else:  # required, or a default that each instance would need a copy of
            raise TypeError(f"trusted_constructor: {cls.__name__} needs {name!r} given")
        lines.append(f"    _fields[{name!r}] = {value}")
    fields_set = "{" + ", ".join(repr(name) for name in given) + "}" if given else "set()"
    lines += [
        f"    _set_fields_set(_model, {fields_set})",
        "    _set_extra(_model, None)",
        "    _set_private(_model, None)",
        "    return _model",
    ]
    exec("\n".join(lines), namespace)
    construct: Callable[..., _M] = namespace["_construct"]
    return construct


_SHAREABLE_DEFAULTS = (str, int, float, Enum, type(None))  # immutable (bool is an int)


class Config(_Model):
    """Limits and tools of one workflow run."""

    max_steps: int = Field(default=50, ge=1)
    max_time: int | float = Field(default=200, gt=0)
    tools: list[str] = Field(default_factory=lambda: ["ALL"])
    custom_tools: list[dict[str, Any]] | None = None
    max_tokens: int | None = Field(default=None, ge=1)


class SearchQuery(_Model):
    """Where a search input takes its query from."""

    value_type: InputValueType
    key: str


class InputValue(_Model):
    """One memory read: `type` says how, `key` says which key (the literal for `string`)."""

    type: InputValueType
    key: str
    index: int | None = None
    search_query: SearchQuery | None = None


class Input(_Model):
    """A named memory read; `{{name}}` in a task's messages renders it."""

    name: str
    value: InputValue
    required: bool = True


class Output(_Model):
    """A memory write of the task's result (`value` "__result") or of a literal."""

    type: OutputType
    key: str
    value: str = RESULT_PLACEHOLDER


class Message(_Model):
    """A chat message template."""

    role: str
    content: str


class Task(_Model):
    """One node of the workflow graph."""

    id: str = Field(min_length=1)
    name: str = "Task"
    description: str = "Task Description"
    messages: list[Message] = Field(default_factory=list)
    output_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    inputs: list[Input] = Field(default_factory=list)
    operator: Operator
    outputs: list[Output] = Field(default_factory=list)


class TaskPostProcess(_Model):
    """A text transformation of the return value."""

    process_type: PostProcessType
    lhs: str | None = None
    rhs: str | None = None


class ReturnValue(_Model):
    """Which memory value the workflow returns, and how."""

    input: InputValue | list[InputValue]
    to_json: bool | None = None
    post_process: list[TaskPostProcess] | None = None


class Condition(_Model):
    """Routes to the edge's `target` when `input <expression> expected`, else `target_if_not`."""

    input: InputValue
    expected: str
    expression: Expression
    target_if_not: str


class Edge(_Model):
    """After `source` succeeds go to `target` (or as `condition` says); on failure `fallback`."""

    source: str
    target: str
    condition: Condition | None = None
    fallback: str | None = None


class Workflow(_Model):
    """A validated workflow document. Construct it with `WorkflowBuilder` or load Dria JSON."""

    config: Config = Field(default_factory=Config)
    external_memory: dict[str, str | list[str]] | None = None
    tasks: list[Task] = Field(default_factory=list)
    steps: list[Edge] = Field(default_factory=list)
    return_value: ReturnValue | None = None

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _as_configuration_error(exc, data) from None

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Self:
        try:
            return super().model_validate(obj, **kwargs)
        except ValidationError as exc:
            raise _as_configuration_error(exc, obj) from None

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **kwargs: Any) -> Self:
        try:
            return super().model_validate_json(json_data, **kwargs)
        except ValidationError as exc:
            raise _as_configuration_error(exc, _loaded(json_data)) from None

    @field_validator("external_memory")
    @classmethod
    def _sort_memory(
        cls, memory: dict[str, str | list[str]] | None
    ) -> dict[str, str | list[str]] | None:
        return None if memory is None else dict(sorted(memory.items()))

    @model_validator(mode="after")
    def _check(self) -> Self:
        check_workflow(self)
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
