"""The operators that are not plain generation: function calling, search, sample.

fanflow ships no tools of its own. `function_calling_raw` returns the calls the model asked
for as JSON; `function_calling` runs them with the Python functions given to
`run_workflow(tools={name: fn})`; `search` calls `tools["search"](**query)`. Tool
definitions sent to the model come from the workflow's `config.custom_tools` (OpenAI
function format, or a bare `{"name", "description", "parameters"}` that is wrapped).
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson

from fanflow._exceptions import ConfigurationError, ExecutionError
from fanflow.adapters import Generation, ToolCall
from fanflow.engine.workflow._memory import MemoryValue, render
from fanflow.steps import Config, Task

__all__ = ["ToolFunction", "call_tools", "raw_tool_calls", "sample", "search", "tool_definitions"]

ToolFunction = Callable[..., Any | Awaitable[Any]]


def tool_definitions(config: Config, task: Task) -> tuple[dict[str, Any], ...]:
    """The tools offered to the model, from `config.custom_tools`."""
    if not config.custom_tools:
        raise ConfigurationError(
            f"task {task.id!r} calls functions but the workflow defines no tools; put OpenAI "
            "function definitions in config.custom_tools"
        )
    return tuple(_openai_tool(d) for d in config.custom_tools)


def _openai_tool(definition: dict[str, Any]) -> dict[str, Any]:
    if definition.get("type") == "function":
        return definition
    return {"type": "function", "function": definition}


def raw_tool_calls(generation: Generation) -> str:
    """The calls as a JSON array of `{"name", "arguments"}` (arguments parsed when JSON)."""
    calls = [{"name": c.name, "arguments": _arguments(c)} for c in generation.tool_calls]
    return orjson.dumps(calls).decode()


async def call_tools(
    generation: Generation, tools: Mapping[str, ToolFunction], task_id: str
) -> str:
    """Run each requested call; the results joined by newlines (the text if no call)."""
    if not generation.tool_calls:
        return generation.text
    results = []
    for call in generation.tool_calls:
        arguments = _arguments(call)
        if not isinstance(arguments, dict):
            raise ExecutionError(
                f"task {task_id!r}: the model called {call.name!r} with arguments that are not "
                f"a JSON object: {call.arguments[:200]!r}"
            )
        results.append(await _invoke(tools, call.name, arguments, task_id))
    return "\n".join(results)


async def search(
    template: str,
    values: Mapping[str, MemoryValue],
    tools: Mapping[str, ToolFunction],
    task_id: str,
) -> str:
    """Run the `search` tool with the task's JSON query, its text fields rendered from `values`.

    The query is parsed before rendering, so memory values (quotes, newlines) cannot break it.
    """
    try:
        query = orjson.loads(template)
    except orjson.JSONDecodeError as exc:
        raise ExecutionError(f"task {task_id!r}: the search query is not JSON: {exc}") from exc
    if not isinstance(query, dict):
        raise ExecutionError(
            f"task {task_id!r}: the search query must be a JSON object such as "
            '{"query": "..."} (WorkflowBuilder.search_step writes one)'
        )
    rendered = {k: render(v, values) if isinstance(v, str) else v for k, v in query.items()}
    return await _invoke(tools, "search", rendered, task_id)


def sample(values: Mapping[str, MemoryValue], rng: random.Random, task_id: str) -> str:
    """One item, chosen with the run's seeded generator, of the task's first stack input."""
    for value in values.values():
        if isinstance(value, list) and value:
            return rng.choice(value)
    raise ExecutionError(
        f"task {task_id!r}: the sample operator needs a non-empty stack input (e.g. GetAll.new)"
    )


def _arguments(call: ToolCall) -> Any:
    try:
        return orjson.loads(call.arguments or "{}")
    except orjson.JSONDecodeError:
        return call.arguments


async def _invoke(
    tools: Mapping[str, ToolFunction], name: str, arguments: dict[str, Any], task_id: str
) -> str:
    function = tools.get(name)
    if function is None:
        raise ExecutionError(
            f"task {task_id!r} needs the tool {name!r}, which was not given; pass "
            f"tools={{{name!r}: function}} to run_workflow"
        )
    try:
        result = function(**arguments)
        if inspect.isawaitable(result):
            result = await result
    except Exception as exc:
        raise ExecutionError(f"task {task_id!r}: tool {name!r} raised {exc!r}") from exc
    return result if isinstance(result, str) else orjson.dumps(result).decode()
