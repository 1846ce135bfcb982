"""`WorkflowBuilder` and `ConditionBuilder`: Dria's builder API, strict where Dria is loose."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from fanflow._exceptions import ConfigurationError
from fanflow.steps._enums import Expression, InputValueType, Operator, OutputType
from fanflow.steps._parts import (
    END_TASK_ID,
    Condition,
    Config,
    Edge,
    Input,
    InputValue,
    Message,
    Output,
    ReturnValue,
    Task,
    trusted_constructor,
)
from fanflow.steps._validation import template_variables
from fanflow.steps._workflow import Workflow, checked_workflow

__all__ = ["ConditionBuilder", "WorkflowBuilder"]

SchemaLike = type[BaseModel] | Mapping[str, Any]


class ConditionBuilder:
    """Builds the `condition` of an `Edge`."""

    @staticmethod
    def build(
        expected: str | int | float, expression: Expression, input: Input, target_if_not: str
    ) -> Condition:
        return Condition(
            expected=str(expected),
            expression=expression,
            input=input.value,
            target_if_not=target_if_not,
        )


class WorkflowBuilder:
    """Builds a `Workflow` step by step; `build()` validates it and adds the `_end` task.

    `WorkflowBuilder(topic="...", seeds=["a", "b"])` sets the initial memory: a str is a
    value, a list of str a stack.
    """

    def __init__(self, memory: Mapping[str, str | list[str]] | None = None, **kwargs: Any) -> None:
        # `kwargs` is a new dict on every call, so the builder may keep it as its memory.
        merged: dict[str, Any] = {**memory, **kwargs} if memory else kwargs
        self._memory: dict[str, str | list[str]] = merged
        self._kinds: dict[str, InputValueType] = dict.fromkeys(merged, _READ)
        for key, value in merged.items():
            if type(value) is not str:  # replacing values while iterating is allowed
                merged[key] = _checked_memory_value(key, value)
                self._kinds[key] = _read_kind(value)
        self._tasks: list[Task] = []
        self._edges: list[Edge] = []
        self._config = _new_config()  # its own: models (and `tools`) are mutable
        self._return_value: ReturnValue | None = None

    def generative_step(
        self,
        prompt: str | None = None,
        path: str | Path | None = None,
        operator: Operator = Operator.GENERATION,
        id: str | None = None,
        inputs: Sequence[Input] | None = None,
        outputs: Sequence[Output] | None = None,
        schema: SchemaLike | None = None,
        msg_history: Sequence[Message | Mapping[str, str]] | None = None,
    ) -> Task:
        """Add a step that asks an LLM; `{{var}}` in the prompt reads memory."""
        if schema is not None and operator != Operator.GENERATION:
            raise ConfigurationError(
                f"step {id!r}: a schema needs operator GENERATION, not {operator.value}"
            )
        text = prompt if type(prompt) is str and path is None else _prompt_text(prompt, path, id)
        messages = [_message(m, id) for m in msg_history] if msg_history else []
        messages.append(_user(text))
        json_schema = None if schema is None else _json_schema(schema)
        return self._add(id, operator, messages, inputs, outputs, json_schema)

    def function_calling_step(
        self,
        prompt: str | None = None,
        path: str | Path | None = None,
        id: str | None = None,
        inputs: Sequence[Input] | None = None,
        outputs: Sequence[Output] | None = None,
        raw: bool = False,
    ) -> Task:
        """Add a step that asks an LLM to call one of the workflow's tools."""
        operator = Operator.FUNCTION_CALLING_RAW if raw else Operator.FUNCTION_CALLING
        messages = [_user(_prompt_text(prompt, path, id))]
        return self._add(id, operator, messages, inputs, outputs, None)

    def search_step(
        self,
        search_query: str,
        search_type: str = "search",
        lang: str = "en",
        n_results: int = 5,
        id: str | None = None,
        inputs: Sequence[Input] | None = None,
        outputs: Sequence[Output] | None = None,
    ) -> Task:
        """Add a step that runs the `search` tool with a query (templated like a prompt)."""
        query: dict[str, Any] = {
            "query": search_query,
            "search_type": search_type,
            "lang": lang,
            "n_results": n_results,
        }
        messages = [_user(orjson.dumps(query).decode())]
        return self._add(id, Operator.SEARCH, messages, inputs, outputs, None)

    def flow(self, edges: Sequence[Edge]) -> None:
        """Add edges; every name must be a task added so far or `_end`."""
        known = {task.id for task in self._tasks} | {END_TASK_ID}
        for edge in edges:
            otherwise = edge.condition.target_if_not if edge.condition is not None else None
            for name in (edge.source, edge.target, edge.fallback, otherwise):
                if name is not None and name not in known:
                    raise ConfigurationError(
                        f"edge {edge.source!r} -> {edge.target!r} names {name!r}, which is no "
                        f"step of this builder; add that step first (steps: {sorted(known)})"
                    )
            self._edges.append(edge)

    def set_return_value(self, key: str | Sequence[str]) -> None:
        """Return one memory key (a stack comes back as a JSON array) or several as an array."""
        kinds = self._kinds
        keys = [key] if isinstance(key, str) else list(key)
        for name in keys:
            if name not in kinds:
                raise ConfigurationError(
                    f"return value {name!r} is neither in memory nor written by any step; "
                    f"choose one of: {sorted(kinds)}"
                )
        values = [_input_value(kinds[name], name) for name in keys]
        if len(values) == 1:
            self._return_value = _new_return_value(values[0], kinds[keys[0]] == _GET_ALL)
        else:
            self._return_value = _new_return_value(values, True)

    def set_max_tokens(self, max_tokens: int) -> None:
        self._configure(max_tokens=max_tokens)

    def set_max_steps(self, max_steps: int) -> None:
        self._configure(max_steps=max_steps)

    def set_max_time(self, max_time: float) -> None:
        self._configure(max_time=max_time)

    def _configure(self, **update: Any) -> None:
        """Change the config, validated now (`model_copy` would not validate)."""
        try:
            self._config = Config.model_validate({**self._config.model_dump(), **update})
        except ValidationError as exc:
            raise ConfigurationError(f"config: {_problems(exc)}") from None

    def build(self) -> Workflow:
        """Validate and return the workflow, adding `_end` and `last -> _end` as Dria does.

        `last -> _end` is added only when the last step has no edge of its own.
        """
        tasks = self._tasks
        edges = list(self._edges)
        if tasks:
            last = tasks[-1].id
            if not (edges and any(e.source == last for e in edges)):
                if type(last) is str:
                    edges.append(_new_edge(last, END_TASK_ID))
                else:  # a user changed the task's id: validation reports it
                    edges.append(Edge(source=last, target=END_TASK_ID))
        return checked_workflow(
            self._config,
            dict(sorted(self._memory.items())),
            [*tasks, _new_end_task(END_TASK_ID, _END, [_user("")])],
            edges,
            self._return_value,
        )

    def _add(
        self,
        task_id: str | None,
        operator: Operator,
        messages: list[Message],
        inputs: Sequence[Input] | None,
        outputs: Sequence[Output] | None,
        schema: dict[str, Any] | None,
    ) -> Task:
        tasks = self._tasks
        if task_id is None:
            task_id = str(len(tasks))
        if task_id == END_TASK_ID or (tasks and any(task.id == task_id for task in tasks)):
            raise ConfigurationError(f"a step with id {task_id!r} exists already; pick another id")
        explicit = list(inputs) if inputs else []
        named = {i.name for i in explicit} if explicit else set()
        all_inputs = self._implicit_inputs(task_id, messages, named)
        if explicit:
            all_inputs += explicit
        output_list = list(outputs) if outputs else []
        if (
            type(task_id) is str
            and task_id
            and type(operator) is Operator
            and _are_models(explicit, output_list, schema)
        ):
            task = _new_task(task_id, operator, messages, all_inputs, output_list, schema)
        else:
            try:
                task = Task(
                    id=task_id,
                    operator=operator,
                    messages=messages,
                    inputs=all_inputs,
                    outputs=output_list,
                    schema=schema,
                )
            except ValidationError as exc:
                raise ConfigurationError(f"step {task_id!r}: {_problems(exc)}") from None
        tasks.append(task)
        kinds = self._kinds
        for output in task.outputs:
            kinds[output.key] = _READ if output.type == _WRITE else _GET_ALL
        return task

    def _implicit_inputs(
        self, task_id: str, messages: list[Message], named: set[str]
    ) -> list[Input]:
        found: list[Input] = []
        kinds = self._kinds
        for message in messages:
            for variable in template_variables(message.content):
                if variable in named:
                    continue
                if variable not in kinds:
                    raise ConfigurationError(
                        f"step {task_id!r} uses {{{{{variable}}}}}, which is not in memory and "
                        f"no earlier step writes it; pass {variable}=... to WorkflowBuilder, write "
                        "it in an earlier step, or give an explicit input"
                    )
                found.append(_new_input(variable, _new_read(kinds[variable], variable)))
                named.add(variable)
        return found


# Enum members as constants: `Enum.X` goes through a slow metaclass `__getattr__` hook.
_READ, _GET_ALL = InputValueType.READ, InputValueType.GET_ALL
_WRITE = OutputType.WRITE
_END = Operator.END

# Models built without validation from values this module made or checked; each names the
# fields that the validated construction it replaces was given.
_new_message = trusted_constructor(Message, "role", "content")
_new_read = trusted_constructor(InputValue, "type", "key")
_new_input = trusted_constructor(Input, "name", "value")
_new_task = trusted_constructor(
    Task, "id", "operator", "messages", "inputs", "outputs", "output_schema"
)
_new_end_task = trusted_constructor(Task, "id", "operator", "messages")
_new_edge = trusted_constructor(Edge, "source", "target")
_new_return_value = trusted_constructor(ReturnValue, "input", "to_json")
_new_config = trusted_constructor(Config)


def _user(text: str) -> Message:
    return _new_message("user", text)


def _input_value(kind: InputValueType, key: str) -> InputValue:
    if type(key) is not str:  # e.g. a memory key given as an int: validation reports it
        return InputValue(type=kind, key=key)
    return _new_read(kind, key)


def _are_models(explicit: list[Any], outputs: list[Any], schema: Any) -> bool:
    """Whether `Task` validation would take the user's parts of a task as they are.

    Messages and implicit inputs are this module's models; pydantic takes model instances
    as they are (no revalidation), so an instance needs no further check.
    """
    for item in explicit:
        if not isinstance(item, Input):
            return False
    for item in outputs:
        if not isinstance(item, Output):
            return False
    return schema is None or all(type(key) is str for key in schema)


def _checked_memory_value(key: str, value: Any) -> str | list[str]:
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return list(value)
    raise ConfigurationError(
        f"memory {key!r} is a {type(value).__name__}; memory holds str or a list of str, so "
        "convert it (e.g. json.dumps) before passing it to WorkflowBuilder"
    )


def _read_kind(value: str | list[str]) -> InputValueType:
    return InputValueType.READ if isinstance(value, str) else InputValueType.GET_ALL


def _prompt_text(prompt: str | None, path: str | Path | None, task_id: str | None) -> str:
    if (prompt is None) == (path is None):
        raise ConfigurationError(f"step {task_id!r}: give exactly one of prompt= or path=")
    if prompt is not None:
        if not isinstance(prompt, str):
            raise ConfigurationError(
                f"step {task_id!r}: prompt must be text, not {type(prompt).__name__}"
            )
        return prompt
    assert path is not None
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(
            f"step {task_id!r}: cannot read prompt file {path}: {exc}"
        ) from exc


def _message(message: Message | Mapping[str, str], task_id: str | None) -> Message:
    if isinstance(message, Message):
        return message
    try:
        return Message(**message)
    except ValidationError as exc:
        raise ConfigurationError(f"step {task_id!r}: msg_history: {_problems(exc)}") from None


def _problems(exc: ValidationError) -> str:
    """pydantic's report in one line, ending with what to do."""
    found = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()
    )
    return f"{found}; fix these arguments"


def _json_schema(schema: SchemaLike | None) -> dict[str, Any] | None:
    if schema is None:
        return None
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema.model_json_schema()
    return dict(schema)
