"""The parts of a workflow document: tasks, messages, memory reads and writes, edges.

Pydantic models whose JSON is Dria's `dria_workflows` schema; `Workflow` (in `_workflow`)
holds them and checks them together (`_validation`).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from functools import lru_cache
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from fanflow._exceptions import ConfigurationError
from fanflow.steps._enums import Expression, InputValueType, Operator, OutputType, PostProcessType

__all__ = [
    "END_TASK_ID",
    "LIMIT_MAX",
    "RESULT_PLACEHOLDER",
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
    "WorkflowPart",
    "trusted_constructor",
]

END_TASK_ID = "_end"
RESULT_PLACEHOLDER = "__result"


class WorkflowPart(BaseModel):
    """Base of every model in a workflow document: Dria's field aliases, no extra fields."""

    model_config = ConfigDict(
        populate_by_name=True, serialize_by_alias=True, extra="forbid", defer_build=True
    )


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


LIMIT_MAX = 2**31 - 1
"""The largest `max_steps`, `max_tokens` and `max_time` (seconds) a workflow may set: larger
ones mean no limit, and would not fit the 64-bit integers of JSON encoders and servers."""


class Config(WorkflowPart):
    """Limits and tools of one workflow run (each limit from 1 up to `LIMIT_MAX`)."""

    max_steps: int = Field(default=50, ge=1, le=LIMIT_MAX)
    max_time: int | float = Field(default=200, gt=0, le=LIMIT_MAX, allow_inf_nan=False)
    tools: list[str] = Field(default_factory=lambda: ["ALL"])
    custom_tools: list[dict[str, Any]] | None = None
    max_tokens: int | None = Field(default=None, ge=1, le=LIMIT_MAX)


class SearchQuery(WorkflowPart):
    """Where a search input takes its query from."""

    value_type: InputValueType
    key: str


class InputValue(WorkflowPart):
    """One memory read: `type` says how, `key` says which key (the literal for `string`)."""

    type: InputValueType
    key: str
    index: int | None = None
    search_query: SearchQuery | None = None


class Input(WorkflowPart):
    """A named memory read; `{{name}}` in a task's messages renders it."""

    name: str
    value: InputValue
    required: bool = True


class Output(WorkflowPart):
    """A memory write of the task's result (`value` "__result") or of a literal."""

    type: OutputType
    key: str
    value: str = RESULT_PLACEHOLDER


class Message(WorkflowPart):
    """A chat message template."""

    role: str
    content: str


class Task(WorkflowPart):
    """One node of the workflow graph."""

    id: str = Field(min_length=1)
    name: str = "Task"
    description: str = "Task Description"
    messages: list[Message] = Field(default_factory=list)
    output_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    inputs: list[Input] = Field(default_factory=list)
    operator: Operator
    outputs: list[Output] = Field(default_factory=list)

    @field_validator("output_schema", mode="before")
    @classmethod
    def _schema_from_text(cls, schema: Any, info: ValidationInfo) -> Any:
        """Dria's SDK sends a task's schema as JSON text: take the object it holds."""
        if isinstance(schema, str | bytes):
            return _schema_object(schema, info.data.get("id"))
        return schema


def _schema_object(text: str | bytes, task_id: object) -> dict[str, Any]:
    """The JSON schema object in `text`, else a `ConfigurationError` naming the task."""
    problem = _schema_text_problem(text)
    if problem is None:
        schema: dict[str, Any] = orjson.loads(text)  # a new object for each task
        return schema
    raise ConfigurationError(
        f"task {task_id!r}: its schema is a string that {problem}; give a JSON schema "
        "object, or a string holding one (Dria's schema forms for Ollama models, a base64 "
        "regular expression, and for Gemini models, with types such as 'OBJECT', are not "
        "JSON schemas: take the workflow Dria makes for an OpenAI model)"
    )


@lru_cache(maxsize=256)
def _schema_text_problem(text: str | bytes) -> str | None:
    """What keeps `text` from holding a JSON schema (draft 2020-12, as the executor uses).

    Cached: a template that loads a document per task loads the same schema every time.
    """
    try:
        schema = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return f"is not valid JSON ({exc})"
    if not isinstance(schema, dict):
        return f"holds a JSON {_json_kind(schema)}, not an object"
    from jsonschema import Draft202012Validator, SchemaError  # only documents with one

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return f"holds no valid JSON schema ({exc.message})"
    return None


def _json_kind(value: Any) -> str:
    kinds = {list: "list", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


class TaskPostProcess(WorkflowPart):
    """A text transformation of the return value."""

    process_type: PostProcessType
    lhs: str | None = None
    rhs: str | None = None


class ReturnValue(WorkflowPart):
    """Which memory value the workflow returns, and how."""

    input: InputValue | list[InputValue]
    to_json: bool | None = None
    post_process: list[TaskPostProcess] | None = None


class Condition(WorkflowPart):
    """Routes to the edge's `target` when `input <expression> expected`, else `target_if_not`."""

    input: InputValue
    expected: str
    expression: Expression
    target_if_not: str


class Edge(WorkflowPart):
    """After `source` succeeds go to `target` (or as `condition` says); on failure `fallback`."""

    source: str
    target: str
    condition: Condition | None = None
    fallback: str | None = None
