"""Run one workflow against an LLM adapter.

Semantics (each one tested in tests/engine/test_executor.py and test_executor_limits.py):

- Execution starts at the first task and follows edges until a task whose operator is
  `end` (the `_end` task). After a task succeeds, its edge's `condition` (if any) routes to
  `target` when it holds and to `target_if_not` otherwise; without a condition, `target`.
- A task fails when a required input finds nothing in memory, the adapter raises, its
  answer does not fit its schema, or its condition cannot be evaluated. A failed task goes
  to its edge's `fallback`; with no fallback the workflow fails with that error, its
  message led by the task id (`StepFailed` for errors that are not fanflow's), and
  `__cause__` the original error.
- A `target_if_not` or `fallback` that names no task (which only a loaded Dria document
  may have, see `steps/_validation`) ends the workflow when taken, as Dria's executor
  does: the result is what the return value reads from memory then.
- `{{var}}` renders the task's input `var` (see `_memory` for what each read returns).
- `max_steps` is the number of tasks (the end task excluded) that may run; the next one
  would raise `ExecutionError`. `max_time` bounds the whole run, also inside a slow call,
  and raises `WorkflowTimeout` naming the task that was running. The limit cancels the
  run's task as `asyncio.timeout` would; any other cancellation (`Task.cancel`, an anyio
  cancel scope) propagates unchanged, also one that comes at the same moment.
- `return_value` with `to_json` gives a JSON array; `WorkflowResult.value` is the result
  parsed as JSON where it is JSON, else the text.
- An answer no task can use (empty, filtered, only tool calls nobody offered) fails its
  task; one cut off at max_tokens is kept, but a condition reading what it wrote fails
  the task (see `_answers`). `WorkflowResult.finish_reason` says how the answers ended.

Given the adapter's answers, a run is deterministic (`sample` uses a seeded generator).
"""

from __future__ import annotations

import random
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from fanflow._exceptions import ExecutionError, FanflowError, StepFailed, WorkflowTimeout
from fanflow._frozen import fast_init
from fanflow._json import json_or_text
from fanflow.adapters import ChatMessage, Generation, GenerationRequest, LLMAdapter, Usage
from fanflow.engine.workflow import _operators as ops
from fanflow.engine.workflow._answers import USUAL_FINISH, check_answer, cut_off_note
from fanflow.engine.workflow._conditions import condition_holds, return_text
from fanflow.engine.workflow._memory import Memory, MemoryValue, render
from fanflow.engine.workflow._meter import UsageMeter
from fanflow.engine.workflow._structured import generate_structured
from fanflow.engine.workflow._time_limit import time_limit
from fanflow.steps import Edge, Message, Operator, Task, Workflow

__all__ = ["WorkflowResult", "run_workflow"]

# Enum members bound once (why: bench/README.md, "Micro-costs").
_END, _GENERATION = Operator.END, Operator.GENERATION
_SAMPLE, _SEARCH, _RAW_CALLS = Operator.SAMPLE, Operator.SEARCH, Operator.FUNCTION_CALLING_RAW
_NO_TOOLS: Mapping[str, ops.ToolFunction] = MappingProxyType({})


@fast_init
@dataclass(frozen=True, slots=True)
class WorkflowResult:
    """What one workflow run returned and what it cost."""

    result: str
    value: Any
    memory: dict[str, MemoryValue]
    steps_taken: int
    usage: Usage
    path: tuple[str, ...]
    generations: int
    requests: int
    finish_reason: str | None = None


def run_workflow(
    workflow: Workflow,
    adapter: LLMAdapter,
    model: str | None = None,
    *,
    temperature: float | None = None,
    tools: Mapping[str, ops.ToolFunction] | None = None,
    seed: int = 0,
    timeout: float | None = None,
    meter: UsageMeter | None = None,
    extra: dict[str, Any] | None = None,
) -> Coroutine[Any, Any, WorkflowResult]:
    """Run `workflow` with `adapter` (and `model`, else the adapter's default); awaited
    as `async` (a plain function returning the run, so no coroutine layer is added).

    `temperature` and `extra` (further body parameters: `top_p`, `seed`, `stop`, ...)
    go with every request. `tools` are the functions (sync ones run in a worker thread)
    that function-calling and search tasks call by name; a Dria `http_request` tool of
    `config.custom_tools` is sent by fanflow itself (see `_operators`).

    `timeout` (seconds) caps the run below the workflow's own `max_time`; the pipeline
    passes its `task_timeout` here so one cancel scope bounds each task. `meter`, if
    given, is charged with every request as it happens, so a caller still knows what a
    run that raised had spent.
    """
    tools = tools or _NO_TOOLS
    run = _Run(workflow, adapter, model, temperature, tools, seed, meter or UsageMeter())
    run.extra = extra or None
    return run.execute(timeout)


class _Run:
    """The state of one run: memory, position, counters."""

    __slots__ = (
        "adapter",
        "current",
        "cut_keys",
        "cut_task",
        "extra",
        "memory",
        "meter",
        "model",
        "path",
        "rng",
        "seed",
        "temperature",
        "tools",
        "workflow",
    )

    def __init__(
        self,
        workflow: Workflow,
        adapter: LLMAdapter,
        model: str | None,
        temperature: float | None,
        tools: Mapping[str, ops.ToolFunction],
        seed: int,
        meter: UsageMeter,
    ) -> None:
        self.workflow = workflow
        self.adapter = adapter
        self.model = model
        self.temperature = temperature
        self.tools = tools
        self.extra: dict[str, Any] | None = None
        self.seed = seed
        self.rng: random.Random | None = None
        self.memory = Memory(workflow.external_memory)
        self.path: list[str] = []
        self.meter = meter
        self.current = workflow.tasks[0].id if workflow.tasks else ""
        # Set only once an answer is cut off: the task whose answer it was, and the memory
        # keys that hold cut-off text (key -> (task id, max_tokens)), for conditions.
        self.cut_task: str | None = None
        self.cut_keys: dict[str, tuple[str, int | None]] | None = None

    async def execute(self, timeout: float | None) -> WorkflowResult:
        """Run the tasks under the time limit, then the result."""
        max_time = self.workflow.config.max_time
        limit = max_time if timeout is None else min(timeout, max_time)
        tasks = self.workflow.tasks
        task = tasks[0] if tasks else None
        with time_limit(limit) as scope:
            while task is not None and task.operator != _END:
                self._count_step(task)
                try:
                    values = self._read_inputs(task)
                    if task.operator == _GENERATION and task.output_schema is None:  # most
                        # `_call` inline: one coroutine less per task.
                        request = self._request(task, values, None)
                        try:
                            generation = await self.adapter.generate(request)
                        except BaseException as exc:  # a timeout too: its request was sent
                            self.meter.add_failure(exc)
                            raise
                        text = self._answered(generation, request).text
                    else:
                        text = await self._operate(task, values)
                    for output in task.outputs:
                        self.memory.store(output, text)
                    if self.cut_keys is not None:
                        self._track_cut_off(task)
                    next_id = self._route(task)
                except FanflowError as exc:
                    next_id = self._fallback(task, exc)
                except Exception as exc:  # an adapter's or tool's own bug: a task failure
                    failure = StepFailed(f"{type(exc).__name__}: {exc}", task_id=task.id)
                    next_id = self._fallback(task, failure, cause=exc)
                task = self._task(next_id)
        if scope.cancelled_caught:
            which = f"max_time={max_time}s" if limit == max_time else f"task_timeout={timeout}s"
            raise self._timed_out(which)
        return self.result()

    def _timed_out(self, which: str) -> WorkflowTimeout:
        return WorkflowTimeout(
            f"workflow ran past {which} during task {self.current!r}; raise the limit "
            "(WorkflowBuilder.set_max_time, PipelineConfig.task_timeout) or use a faster "
            "endpoint"
        )

    def result(self) -> WorkflowResult:
        """The result; only once, at the end: the memory is handed over, not copied."""
        text = return_text(self.workflow.return_value, self.memory)
        meter, path = self.meter, self.path
        # Positional, as in `_request`: result, value, memory, steps_taken, usage, path,
        # generations, requests.
        return WorkflowResult(
            text,
            json_or_text(text),
            self.memory.take(),
            len(path),
            meter.usage,
            tuple(path),
            meter.generations,
            meter.requests,
            meter.finish_reason,
        )

    def _task(self, task_id: str) -> Task | None:
        """The task `task_id`; None ends the run, as Dria's executor ends on a branch naming
        no task (only a loaded document has one: validation refuses it elsewhere)."""
        # A scan, not a dict built per run: workflows have a handful of tasks, most runs
        # take one step, and building the dict would cost more than the scans it saves.
        for task in self.workflow.tasks:
            if task.id == task_id:
                return task
        return None

    def _edge(self, task_id: str) -> Edge | None:
        """The first edge out of `task_id` (a later one from the same task is ignored)."""
        for edge in self.workflow.steps:
            if edge.source == task_id:
                return edge
        return None

    def _count_step(self, task: Task) -> None:
        limit = self.workflow.config.max_steps
        if len(self.path) >= limit:
            raise ExecutionError(
                f"workflow reached max_steps={limit} before task {task.id!r} (path so far: "
                f"{' -> '.join(self.path[-6:])}); raise max_steps or fix the loop's condition"
            )
        self.current = task.id
        self.path.append(task.id)

    def _read_inputs(self, task: Task) -> dict[str, MemoryValue]:
        values: dict[str, MemoryValue] = {}
        for item in task.inputs:
            found = self.memory.resolve(item.value)
            if found is None and item.required:
                raise ExecutionError(
                    f"task {task.id!r}: required input {item.name!r} ({item.value.type.value} "
                    f"{item.value.key!r}) found nothing in memory; write it earlier or mark it "
                    "required=False"
                )
            values[item.name] = "" if found is None else found
        return values

    def _rng(self) -> random.Random:
        """Made on first use: seeding a generator costs more than most tasks' other work."""
        if self.rng is None:
            self.rng = random.Random(self.seed)
        return self.rng

    async def _operate(self, task: Task, values: dict[str, MemoryValue]) -> str:
        """Every task but a plain generation (which `execute` runs itself)."""
        operator = task.operator
        if operator == _SAMPLE:
            return ops.sample(values, self._rng(), task.id)
        if operator == _SEARCH:
            return await ops.search(task.messages[-1].content, values, self.tools, task.id)
        if operator == _GENERATION:
            request = self._request(task, values, None)
            return await generate_structured(self._call, request, task.id)
        request = self._request(task, values, ops.tool_definitions(self.workflow.config, task))
        generation = await self._call(request)
        if operator == _RAW_CALLS:
            return ops.raw_tool_calls(generation)
        return await ops.call_tools(generation, self.tools, task.id, self.workflow.config)

    def _request(
        self,
        task: Task,
        values: dict[str, MemoryValue],
        tools: tuple[dict[str, Any], ...] | None,
    ) -> GenerationRequest:
        # Positional, in field order (messages, model, temperature, max_tokens, json_schema,
        # tools, extra): cheaper than keywords (bench/README.md, "Micro-costs").
        messages, config = _rendered(task.messages, values), self.workflow.config
        if self.extra is None:
            return GenerationRequest(
                messages, self.model, self.temperature, config.max_tokens, task.output_schema, tools
            )
        return GenerationRequest(
            messages,
            self.model,
            self.temperature,
            config.max_tokens,
            task.output_schema,
            tools,
            self.extra,
        )

    async def _call(self, request: GenerationRequest) -> Generation:
        try:
            generation = await self.adapter.generate(request)
        except BaseException as exc:  # cut off by a timeout too: its request was sent
            self.meter.add_failure(exc)
            raise
        return self._answered(generation, request)

    def _answered(self, generation: Generation, request: GenerationRequest) -> Generation:
        """Charge the meter; note an answer cut off at max_tokens."""
        self.meter.add(generation)
        unusual = generation.finish_reason not in USUAL_FINISH or not generation.text
        if unusual and check_answer(generation, request):  # cut off at max_tokens
            self.cut_task = self.current
            if self.cut_keys is None:
                self.cut_keys = {}
        return generation

    def _track_cut_off(self, task: Task) -> None:
        """Remember which memory keys now hold a cut-off answer (and which no longer do)."""
        assert self.cut_keys is not None
        cut, self.cut_task = self.cut_task == task.id, None
        for output in task.outputs:
            if cut:
                self.cut_keys[output.key] = (task.id, self.workflow.config.max_tokens)
            else:
                self.cut_keys.pop(output.key, None)

    def _route(self, task: Task) -> str:
        edge = self._edge(task.id)
        if edge is None:
            raise KeyError(task.id)
        if edge.condition is None:
            return edge.target
        where = f"edge {edge.source!r} -> {edge.target!r}"
        if self.cut_keys and edge.condition.input.key in self.cut_keys:
            writer, max_tokens = self.cut_keys[edge.condition.input.key]
            raise ExecutionError(
                f"{where}: the condition reads {edge.condition.input.key!r}, written by task "
                f"{writer!r} whose answer was cut off {cut_off_note(max_tokens)} "
                "(finish_reason 'length'); raise max_tokens"
            )
        holds = condition_holds(edge.condition, self.memory, where)
        return edge.target if holds else edge.condition.target_if_not

    def _fallback(self, task: Task, error: FanflowError, cause: BaseException | None = None) -> str:
        """The fallback's id, or raise `error` led by the task id, chained to `cause`."""
        self.cut_task = None
        edge = self._edge(task.id)
        if edge is not None and edge.fallback is not None:
            return edge.fallback
        prefix = f"task {task.id!r} failed and has no fallback: "
        raise error.with_context(prefix) from (error if cause is None else cause)


def _rendered(messages: list[Message], values: dict[str, MemoryValue]) -> tuple[ChatMessage, ...]:
    if len(messages) == 1:  # most tasks: no comprehension to set up
        message = messages[0]
        return (ChatMessage(message.role, render(message.content, values)),)
    return tuple([ChatMessage(m.role, render(m.content, values)) for m in messages])
