"""The operators that are not plain generation: function calling, search, sample.

fanflow ships no tools of its own. `function_calling_raw` returns the calls the model asked
for as JSON; `function_calling` runs them with the Python functions given to
`run_workflow(tools={name: fn})` (a step's `set_tools`), and their results, joined by
newlines, are the task's answer, as in Dria; `search` calls `tools["search"](**query)`.
Sync functions run in a worker thread, so a slow one does not stall other tasks; async
ones are awaited. A tool that raises fails its task (the edge's fallback, if any, runs):
its error text never becomes data a later task reads as a tool result.

Tool definitions sent to the model come from the workflow's `config.custom_tools` (see
`steps/_tools.offered_tool`: OpenAI definitions, bare ones, and Dria's custom tools). A
call of a Dria `http_request` tool that no function of that name overrides is sent by
fanflow: its `method` to its `url` with its `headers`; for methods other than GET the
JSON body is the tool's `body` updated with the model's arguments (Dria sends the
arguments), for GET the arguments go in the query string (Dria drops them). The answer's
text is the call's result; a status other than 2xx, or no answer within the definition's
`timeout` (seconds, default 30), fails the task. Unlike Dria, fanflow never
adds an Authorization header from the environment: put what the endpoint needs in
`headers`.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any

import anyio.to_thread
import orjson

from fanflow._exceptions import ConfigurationError, ExecutionError
from fanflow.adapters import Generation, ToolCall, send_tool_request
from fanflow.engine.workflow._memory import MemoryValue, render
from fanflow.steps import Config, Task, is_http_tool, offered_name, offered_tool

__all__ = ["ToolFunction", "call_tools", "raw_tool_calls", "sample", "search", "tool_definitions"]

ToolFunction = Callable[..., Any | Awaitable[Any]]


def tool_definitions(config: Config, task: Task) -> tuple[dict[str, Any], ...]:
    """The tools offered to the model, from `config.custom_tools`."""
    if not config.custom_tools:
        raise ConfigurationError(
            f"task {task.id!r} calls functions but the workflow defines no tools; put OpenAI "
            "function definitions in config.custom_tools, or give the step its functions "
            "with set_tools([...])"
        )
    return tuple(offered_tool(d) for d in config.custom_tools)


def raw_tool_calls(generation: Generation) -> str:
    """The calls as a JSON array of `{"name", "arguments"}` (arguments parsed when JSON)."""
    calls = [{"name": c.name, "arguments": _arguments(c)} for c in generation.tool_calls]
    return orjson.dumps(calls).decode()


async def call_tools(
    generation: Generation,
    tools: Mapping[str, ToolFunction],
    task_id: str,
    config: Config | None = None,
) -> str:
    """Run each requested call; the results joined by newlines (the text if no call).
    `config`'s `http_request` tools are sent when no function of their name is given."""
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
        if call.name not in tools and (http := _http_tool(config, call.name)) is not None:
            results.append(await _send(http, call.name, arguments, task_id))
        else:
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
            f"task {task_id!r} needs the tool {name!r}, which was not given; give the step "
            f"a function named {name!r} with set_tools([...]) (or pass "
            f"tools={{{name!r}: function}} to run_workflow)"
        )
    try:
        if _is_async(function):
            result = await function(**arguments)
        else:  # off the event loop: a slow or blocking tool must not stall other tasks
            call = partial(function, **arguments)
            result = await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
            if inspect.isawaitable(result):  # a sync function that returned a coroutine
                result = await result
    except Exception as exc:
        raise ExecutionError(
            f"task {task_id!r}: tool {name!r} raised {type(exc).__name__}: {exc}"
        ) from exc
    return _as_text(result)


def _is_async(function: ToolFunction) -> bool:
    """An async function, or an object whose `__call__` is one."""
    call = getattr(function, "__call__", None)  # noqa: B004
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(call)


def _as_text(result: Any) -> str:
    return result if isinstance(result, str) else orjson.dumps(result).decode()


def _http_tool(config: Config | None, name: str) -> dict[str, Any] | None:
    """The `http_request` custom tool the model calls `name`, if the workflow has one."""
    for definition in (config.custom_tools or []) if config is not None else []:
        if is_http_tool(definition) and offered_name(definition) == name:
            return definition
    return None


async def _send(
    definition: dict[str, Any], name: str, arguments: dict[str, Any], task_id: str
) -> str:
    """Send an `http_request` tool's request (see the module docstring); its answer's text."""
    method = str(definition.get("method", "GET")).upper()
    try:
        url, headers = str(definition["url"]), definition.get("headers") or {}
        timeout = definition.get("timeout")
        timeout = None if timeout is None else float(timeout)
    except (KeyError, TypeError, ValueError) as exc:
        raise ExecutionError(
            f"task {task_id!r}: the http_request tool {name!r} needs a url (and a timeout in "
            f"seconds, if any): {exc!r}"
        ) from exc
    body = None if method == "GET" else {**(definition.get("body") or {}), **arguments}
    params = (arguments or None) if method == "GET" else None
    try:
        return await send_tool_request(
            method, url, headers=headers, json_body=body, params=params, timeout=timeout
        )
    except Exception as exc:
        raise ExecutionError(f"task {task_id!r}: tool {name!r} failed: {exc}") from exc
