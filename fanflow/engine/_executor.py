"""Run one workflow against an LLM adapter.

Semantics (each one tested in tests/engine/test_executor.py):

- Execution starts at the first task and follows edges until a task whose operator is
  `end` (the `_end` task). After a task succeeds, its edge's `condition` (if any) routes to
  `target` when it holds and to `target_if_not` otherwise; without a condition, `target`.
- A task fails when a required input finds nothing in memory, the adapter raises, its
  answer does not fit its schema, or its condition cannot be evaluated. A failed task goes
  to its edge's `fallback`; with no fallback the workflow fails with that error, its
  message led by the task id (`StepFailed` for errors that are not fanflow's), and
  `__cause__` the original error.
- `{{var}}` renders the task's input `var` (see `_memory` for what each read returns).
- `max_steps` is the number of tasks (the end task excluded) that may run; the next one
  would raise `ExecutionError`. `max_time` bounds the whole run, also inside a slow call,
  and raises `WorkflowTimeout` naming the task that was running.
- `return_value` with `to_json` gives a JSON array; `WorkflowResult.value` is the result
  parsed as JSON where it is JSON, else the text.

Given the adapter's answers, a run is deterministic (`sample` uses a seeded generator).
"""

from __future__ import annotations

import asyncio
import random
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import orjson

from fanflow._exceptions import ExecutionError, FanflowError, StepFailed, WorkflowTimeout
from fanflow.adapters import ChatMessage, Generation, GenerationRequest, LLMAdapter, Usage
from fanflow.engine import _operators as ops
from fanflow.engine._accounting import UsageMeter
from fanflow.engine._conditions import condition_holds, return_text
from fanflow.engine._memory import Memory, MemoryValue, render
from fanflow.engine._structured import generate_structured
from fanflow.steps import Edge, Operator, Task, Workflow

__all__ = ["WorkflowResult", "parse_value", "run_workflow"]


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


async def run_workflow(
    workflow: Workflow,
    adapter: LLMAdapter,
    model: str | None = None,
    *,
    temperature: float | None = None,
    tools: Mapping[str, ops.ToolFunction] | None = None,
    seed: int = 0,
    timeout: float | None = None,
    meter: UsageMeter | None = None,
) -> WorkflowResult:
    """Run `workflow` with `adapter` (and `model`, else the adapter's default).

    `timeout` (seconds) caps the run below the workflow's own `max_time`; the pipeline
    passes its `task_timeout` here so one cancel scope bounds each task. `meter`, if
    given, is charged with every request as it happens, so a caller still knows what a
    run that raised had spent.
    """
    run = _Run(workflow, adapter, model, temperature, tools or {}, seed)
    run.meter = meter or run.meter
    max_time = workflow.config.max_time
    limit = max_time if timeout is None else min(timeout, max_time)
    if not await _within(limit, run):
        which = f"max_time={max_time}s" if limit == max_time else f"task_timeout={timeout}s"
        raise WorkflowTimeout(
            f"workflow ran past {which} during task {run.current!r}; raise the limit "
            "(WorkflowBuilder.set_max_time, PipelineConfig.task_timeout) or use a faster "
            "endpoint"
        )
    return run.result()


async def _within(seconds: float, run: _Run) -> bool:
    """Run; False when `seconds` ran out first.

    On Python 3.11+ `asyncio.timeout` costs ~20 us less per task than an anyio cancel
    scope (measured on the pipeline bench); both cooperate with anyio task groups.
    """
    if sys.version_info >= (3, 11):
        try:
            async with asyncio.timeout(seconds) as deadline:
                await run.execute()
        except TimeoutError:
            if deadline.expired():
                return False
            raise
        return True
    with anyio.move_on_after(seconds) as scope:
        await run.execute()
    return not scope.cancelled_caught


class _Run:
    """The state of one run: memory, position, counters."""

    def __init__(
        self,
        workflow: Workflow,
        adapter: LLMAdapter,
        model: str | None,
        temperature: float | None,
        tools: Mapping[str, ops.ToolFunction],
        seed: int,
    ) -> None:
        self.workflow = workflow
        self.adapter = adapter
        self.model = model
        self.temperature = temperature
        self.tools = tools
        self.seed = seed
        self.rng: random.Random | None = None
        self.memory = Memory(workflow.external_memory)
        self.tasks = {task.id: task for task in workflow.tasks}
        self.edges: dict[str, Edge] = {}
        for edge in workflow.steps:
            self.edges.setdefault(edge.source, edge)
        self.path: list[str] = []
        self.meter = UsageMeter()
        self.current = workflow.tasks[0].id if workflow.tasks else ""

    async def execute(self) -> None:
        task = self.workflow.tasks[0] if self.workflow.tasks else None
        while task is not None and task.operator != Operator.END:
            self._count_step(task)
            try:
                await self._run_task(task)
                next_id = self._route(task)
            except FanflowError as exc:
                next_id = self._fallback(task, exc)
            except Exception as exc:  # an adapter's or tool's own bug: still a task failure
                failure = StepFailed(f"{type(exc).__name__}: {exc}", task_id=task.id)
                next_id = self._fallback(task, failure, cause=exc)
            task = self.tasks[next_id]

    def result(self) -> WorkflowResult:
        text = return_text(self.workflow.return_value, self.memory)
        return WorkflowResult(
            result=text,
            value=parse_value(text),
            memory=self.memory.snapshot(),
            steps_taken=len(self.path),
            usage=self.meter.usage,
            path=tuple(self.path),
            generations=self.meter.generations,
            requests=self.meter.requests,
        )

    def _count_step(self, task: Task) -> None:
        limit = self.workflow.config.max_steps
        if len(self.path) >= limit:
            raise ExecutionError(
                f"workflow reached max_steps={limit} before task {task.id!r} (path so far: "
                f"{' -> '.join(self.path[-6:])}); raise max_steps or fix the loop's condition"
            )
        self.current = task.id
        self.path.append(task.id)

    async def _run_task(self, task: Task) -> None:
        values = self._read_inputs(task)
        text = await self._operate(task, values)
        for output in task.outputs:
            self.memory.store(output, text)

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
        operator = task.operator
        if operator == Operator.SAMPLE:
            return ops.sample(values, self._rng(), task.id)
        if operator == Operator.SEARCH:
            return await ops.search(task.messages[-1].content, values, self.tools, task.id)
        if operator == Operator.GENERATION:
            return await self._generate(task, values)
        request = self._request(task, values, ops.tool_definitions(self.workflow.config, task))
        generation = await self._call(request)
        if operator == Operator.FUNCTION_CALLING_RAW:
            return ops.raw_tool_calls(generation)
        return await ops.call_tools(generation, self.tools, task.id)

    async def _generate(self, task: Task, values: dict[str, MemoryValue]) -> str:
        request = self._request(task, values, None)
        if request.json_schema is None:
            return (await self._call(request)).text
        return await generate_structured(self._call, request, task.id)

    def _request(
        self,
        task: Task,
        values: dict[str, MemoryValue],
        tools: tuple[dict[str, Any], ...] | None,
    ) -> GenerationRequest:
        return GenerationRequest(
            messages=self._rendered(task, values),
            model=self.model,
            temperature=self.temperature,
            max_tokens=self.workflow.config.max_tokens,
            json_schema=task.output_schema,
            tools=tools,
        )

    @staticmethod
    def _rendered(task: Task, values: dict[str, MemoryValue]) -> tuple[ChatMessage, ...]:
        return tuple(ChatMessage(m.role, render(m.content, values)) for m in task.messages)

    async def _call(self, request: GenerationRequest) -> Generation:
        try:
            generation = await self.adapter.generate(request)
        except Exception as exc:
            self.meter.add_failure(exc)
            raise
        self.meter.add(generation)
        return generation

    def _route(self, task: Task) -> str:
        edge = self.edges[task.id]
        if edge.condition is None:
            return edge.target
        where = f"edge {edge.source!r} -> {edge.target!r}"
        holds = condition_holds(edge.condition, self.memory, where)
        return edge.target if holds else edge.condition.target_if_not

    def _fallback(self, task: Task, error: FanflowError, cause: BaseException | None = None) -> str:
        """The fallback's id, or raise `error` led by the task id, chained to `cause`."""
        edge = self.edges.get(task.id)
        if edge is not None and edge.fallback is not None:
            return edge.fallback
        prefix = f"task {task.id!r} failed and has no fallback: "
        raise error.with_context(prefix) from (error if cause is None else cause)


_JSON_STARTS = frozenset('[{"-0123456789tfn')


def parse_value(text: str) -> Any:
    """`text` parsed as JSON where it is JSON, else the text itself."""
    # Most answers are prose; a failed parse raises, and raising costs more than this test.
    if text.lstrip()[:1] not in _JSON_STARTS:
        return text
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
