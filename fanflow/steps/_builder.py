"""`WorkflowBuilder` and `ConditionBuilder`: Dria's builder API, strict where Dria is loose."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from fanflow._exceptions import ConfigurationError
from fanflow.steps._enums import Expression, InputValueType, Operator, OutputType
from fanflow.steps._validation import template_variables
from fanflow.steps._workflow import (
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
    Workflow,
)

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
        merged: dict[str, Any] = {**(memory or {}), **kwargs}
        self._memory: dict[str, str | list[str]] = {}
        self._kinds: dict[str, InputValueType] = {}
        for key, value in merged.items():
            self._memory[key] = _checked_memory_value(key, value)
            self._kinds[key] = _read_kind(value)
        self._tasks: list[Task] = []
        self._edges: list[Edge] = []
        self._config = Config()
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
        text = _prompt_text(prompt, path, id)
        messages = [_message(m, id) for m in msg_history or ()] + [_user(text)]
        return self._add(id, operator, messages, inputs, outputs, _json_schema(schema))

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
        keys = [key] if isinstance(key, str) else list(key)
        for name in keys:
            if name not in self._kinds:
                raise ConfigurationError(
                    f"return value {name!r} is neither in memory nor written by any step; "
                    f"choose one of: {sorted(self._kinds)}"
                )
        values = [InputValue(type=self._kinds[k], key=k) for k in keys]
        if len(values) == 1:
            as_json = values[0].type == InputValueType.GET_ALL
            self._return_value = ReturnValue(input=values[0], to_json=as_json)
        else:
            self._return_value = ReturnValue(input=values, to_json=True)

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
        end = Task(id=END_TASK_ID, operator=Operator.END, messages=[_user("")])
        edges = list(self._edges)
        if self._tasks and not any(e.source == self._tasks[-1].id for e in edges):
            edges.append(Edge(source=self._tasks[-1].id, target=END_TASK_ID))
        return Workflow.from_checked_parts(
            config=self._config,
            external_memory=dict(sorted(self._memory.items())),
            tasks=[*self._tasks, end],
            steps=edges,
            return_value=self._return_value,
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
        task_id = task_id if task_id is not None else str(len(self._tasks))
        if any(task.id == task_id for task in self._tasks) or task_id == END_TASK_ID:
            raise ConfigurationError(f"a step with id {task_id!r} exists already; pick another id")
        explicit = list(inputs or ())
        implicit = self._implicit_inputs(task_id, messages, {i.name for i in explicit})
        try:
            task = Task(
                id=task_id,
                operator=operator,
                messages=messages,
                inputs=implicit + explicit,
                outputs=list(outputs or ()),
                schema=schema,
            )
        except ValidationError as exc:
            raise ConfigurationError(f"step {task_id!r}: {_problems(exc)}") from None
        self._tasks.append(task)
        for output in task.outputs:
            is_stack = output.type != OutputType.WRITE
            self._kinds[output.key] = InputValueType.GET_ALL if is_stack else InputValueType.READ
        return task

    def _implicit_inputs(
        self, task_id: str, messages: list[Message], named: set[str]
    ) -> list[Input]:
        found: list[Input] = []
        for message in messages:
            for variable in template_variables(message.content):
                if variable in named:
                    continue
                if variable not in self._kinds:
                    raise ConfigurationError(
                        f"step {task_id!r} uses {{{{{variable}}}}}, which is not in memory and "
                        f"no earlier step writes it; pass {variable}=... to WorkflowBuilder, write "
                        "it in an earlier step, or give an explicit input"
                    )
                kind = self._kinds[variable]
                value = InputValue(type=kind, key=variable)
                found.append(Input(name=variable, value=value))
                named.add(variable)
        return found


def _user(text: str) -> Message:
    return Message(role="user", content=text)


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
