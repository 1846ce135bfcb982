"""The streaming dispatcher: every task of every step, under one concurrency limit.

Up to `concurrency` workers run in one task group. Each takes the deepest ready task (so
finished rows appear early and pending work stays bounded), else reads the next input row,
else waits. A finished task's result goes through its step's callback at once: a streaming
callback's inputs are ready immediately; a barrier callback holds results until its group
is complete, i.e. no task of that group's root (or of the whole run, for `by="all"`) is
pending or running at that step or above. Every task ends with a status and a reason.
Cancelling the run cancels the task group and so every task in flight. A chain's inputs
go to `StepPlan.next` right here; branches, routes and joins go through `_joins.GraphFlow`
(see `_graph.py` for the graph).

A task's workflow comes from `_tasks.prepare_task`; a function step's task
(`StepPlan.function`) is a call made by `_functions` instead, cached the same way. Every
result, and every question of whether a task was answered before, goes to the run's
`ResultSink`. Per-step counts
(`counts`) are plain integers that the progress display reads when it refreshes.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio

from fanflow._exceptions import FanflowError, StepFailed
from fanflow._redact import redact
from fanflow._values import Lineage, TaskInput, TaskResult, TaskStatus, TaskTiming
from fanflow.adapters import LLMAdapter
from fanflow.callbacks import as_inputs
from fanflow.engine.pipeline._accounting import Budget, Prices, cost_of
from fanflow.engine.pipeline._functions import FunctionCall, call_function, children_context
from fanflow.engine.pipeline._input_rows import Rooted, UnusableRow
from fanflow.engine.pipeline._joins import GraphFlow
from fanflow.engine.pipeline._plan import StepPlan
from fanflow.engine.pipeline._sink import ResultSink
from fanflow.engine.pipeline._tasks import PreparedTask, bind_inputs, prepare_task
from fanflow.engine.pipeline._tracing import RunTracing
from fanflow.engine.pipeline._work import Work as _Work
from fanflow.engine.workflow import UsageMeter, WorkflowResult, run_workflow

__all__ = ["ALL_ROOTS", "DispatchSettings", "Dispatcher", "StepCounts"]

FILTERED = TaskStatus.FILTERED

ALL_ROOTS = -1
"""The root index of tasks that descend from an `Aggregate(by="all")` group."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DispatchSettings:
    concurrency: int
    task_timeout: float | None = None
    on_error: str = "skip"
    budget: Budget | None = None
    prices: Prices | None = None


@dataclass(slots=True)
class StepCounts:
    """Tasks of one step so far."""

    created: int = 0
    running: int = 0
    done: int = 0
    failed: int = 0
    cached: int = 0  # done without sending: answered by an earlier run or a run alongside


@dataclass(slots=True)
class _Group:
    """Per root: live tasks per step, and barrier groups not yet released."""

    live: list[int]
    row: Mapping[str, Any]
    held: dict[int, list[TaskResult]] = field(default_factory=dict)
    released: set[int] = field(default_factory=set)


class Dispatcher:
    """Runs a planned pipeline to completion; results go to `sink` as they finish."""

    def __init__(
        self,
        plans: list[StepPlan],
        adapter: LLMAdapter,
        settings: DispatchSettings,
        rows: Iterator[Mapping[str, Any] | UnusableRow | Rooted | _Work],
        sink: ResultSink,
    ) -> None:
        self.plans = plans
        self.adapter = adapter
        self.settings = settings
        self.rows = rows
        self.sink = sink
        self.counts = [StepCounts() for _ in plans]
        self.pending: list[deque[_Work]] = [deque() for _ in plans]
        self.groups: dict[int, _Group] = {ALL_ROOTS: _Group([0] * len(plans), {})}
        self.running = 0
        self.roots_read = 0
        self.rows_done = False
        self.idle: deque[anyio.Event] = deque()
        self.workers = 0
        self._workers: anyio.abc.TaskGroup
        self.stopped: str | None = None
        self.max_children: int | None = None
        self.hold_whole_step = False  # a shard: barriers over a whole step are the driver's
        # A sharded run's driver: tasks the shards ran, ok or not, by (step, lineage).
        self.replay: Callable[[int, Lineage], TaskResult | None] | None = None
        # A sharded run's driver between its parts: True leaves a task to the shards.
        self.defer: Callable[[_Work], bool] | None = None
        self.barriers = [p for p in plans if p.callback is not None and p.callback.is_barrier]
        self.graph = GraphFlow(plans, self._skip_join)  # branches, routes and joins
        self.tracing: RunTracing | None = None  # set when the run is traced (_tracing)

    def stop(self, reason: str = "interrupted") -> int:
        """Send nothing new: tasks not started end as skipped, those running finish.
        Returns how many are running."""
        if self.stopped is None:
            self.stopped = reason
        self._wake(len(self.idle))
        return self.running

    def limit_children_to_one(self) -> None:
        """For dry runs: every callback passes on at most one input."""
        self.max_children = 1

    async def run(self) -> None:
        async with anyio.create_task_group() as group:
            self._workers = group
            self._add_worker()

    def _add_worker(self) -> None:
        """Workers start as work appears (see `_worker`), up to `concurrency`: a huge limit
        over a small run costs nothing, a run of many tasks reaches the limit at once."""
        self.workers += 1
        self._workers.start_soon(self._worker)

    async def _worker(self) -> None:
        while (work := await self._next()) is not None:
            if self.defer is not None and self.defer(work):
                self._settle(work)  # no result, no children: a shard runs it (_ray_phases)
                continue
            work.started = time.time()
            if not self.idle and self.workers < self.settings.concurrency:
                self._add_worker()  # this one is busy now and nobody waits: maybe more work
            self.running += 1
            counts = self.counts[work.step]
            counts.running += 1
            try:
                if self.tracing is None:
                    result, key = await self._execute(work)
                else:  # OpenTelemetry: in the task's span (_tracing)
                    name = self.plans[work.step].name
                    result, key = await self.tracing.task(self._execute(work), name, work.lineage)
                result, children = self._children(work, result)  # before saving: may fail it
                # Wait for the commit: the worker holds its slot meanwhile, so results
                # answered but not yet saved never exceed the concurrency.
                kept = await self.sink.save(work.step, key, result)
                if kept is not result:  # the store could not write it: failed, no children
                    result, children = kept, []
            finally:
                self.running -= 1
                counts.running -= 1
            self._complete(work, result, children)

    async def _next(self) -> _Work | None:
        while True:
            if self.stopped is not None:
                self._skip_pending()
            for queue in reversed(self.pending):
                if queue:
                    return queue.popleft()
            if not self.rows_done and self.stopped is None:
                work = self._read_root()
                if work is not None:
                    return work
                continue
            if self.running == 0:
                self._wake(len(self.idle))  # the others see the end too
                return None
            await self._idle()

    def _read_root(self) -> _Work | None:
        row = next(self.rows, None)
        if row is None:
            self.rows_done = True
            self._release_barriers(ALL_ROOTS)
            return None
        root = self.roots_read
        self.roots_read += 1
        if isinstance(row, _Work):  # a shard's task below a barrier the driver released
            return self._enqueue_work(row, push=False)
        if isinstance(row, Rooted):  # a shard's row: its index in the whole input
            root = row.root
            row = row.row
        if isinstance(row, UnusableRow):  # a failed task of the first step (see _input_rows)
            self.groups[root] = _Group([0] * len(self.plans), {})
            return self._enqueue_work(_Work(0, {}, {}, (root,), root, row.message), push=False)
        self.groups[root] = _Group([0] * len(self.plans), row)
        return self._enqueue_work(_Work(0, row, {}, (root,), root), push=False)

    async def _execute(self, work: _Work) -> tuple[TaskResult, str]:
        """Run one task, or take it from the cache; the result and its content key."""
        if work.unusable is not None:
            return self._ended(work, TaskStatus.FAILED, work.unusable), ""
        plan = self.plans[work.step]
        key = ""
        try:
            task: PreparedTask | FunctionCall
            if plan.function is not None:  # a function step (_functions): no workflow
                task = call = self._function_call(plan, work)
                key = self.sink.function_key(call, work.lineage)
            else:
                task = prepare_task(plan, work.fields, work.context, work.lineage)
                key = self.sink.key(task, work.lineage)
            known = self._known(work, key)
            if known is not None:
                return known, key
            # An identical task of another run in flight now: its answer, once committed.
            waiting = self.sink.claim(key)
            if waiting is not None and (shared := await waiting) is not None:
                return self._from_cache(work, shared), key
            if isinstance(task, FunctionCall):
                timeout = self.settings.task_timeout
                called = await call_function(task, work.fields, work.context, work.lineage, timeout)
                return dataclasses.replace(called, timing=_timing(work)), key
            # The workflow is awaited here, not in a coroutine of its own: one layer less.
            meter = UsageMeter()
            try:
                outcome = await self._run_workflow(task, meter)
            except TimeoutError as exc:
                return self._answer(work, task, meter, TaskStatus.TIMED_OUT, _describe(exc)), key
            except Exception as exc:  # recorded on the result and surfaced in PipelineResult
                return self._answer(work, task, meter, TaskStatus.FAILED, _describe(exc)), key
            return self._answer(work, task, meter, TaskStatus.OK, None, outcome), key
        except Exception as exc:  # recorded on the result and surfaced in PipelineResult
            return self._ended(work, TaskStatus.FAILED, exc), key
        except BaseException:
            self.sink.unclaim(key)  # cancelled: runs waiting for this task send it themselves
            raise

    def _known(self, work: _Work, key: str) -> TaskResult | None:
        """The task's outcome without sending it: run by a shard, or cached; else None."""
        ran = None if self.replay is None else self.replay(work.step, work.lineage)
        if ran is not None:  # a shard ran it (`_ray_run`): its outcome, never resent
            return ran
        cached = self.sink.cached(key)
        return None if cached is None else self._from_cache(work, cached)

    def _function_call(self, plan: StepPlan, work: _Work) -> FunctionCall:
        assert plan.function is not None
        return FunctionCall(plan.function, bind_inputs(plan, work.fields, work.context))

    def _run_workflow(
        self, task: PreparedTask, meter: UsageMeter
    ) -> Coroutine[Any, Any, WorkflowResult]:
        sampling = task.sampling
        return run_workflow(
            task.workflow, self.adapter, task.model, timeout=self.settings.task_timeout,
            meter=meter, temperature=None if sampling is None else sampling.temperature,
            extra=None if sampling is None else sampling.extra, tools=task.tools,
        )  # fmt: skip

    def _answer(
        self,
        work: _Work,
        task: PreparedTask,
        meter: UsageMeter,
        status: TaskStatus,
        error: str | None,
        outcome: WorkflowResult | None = None,
    ) -> TaskResult:
        """The result of a task whose workflow ran (`outcome`), or failed with `error`."""
        text, value = ("", None) if outcome is None else (outcome.result, outcome.value)
        model = task.model or meter.model
        cost = cost_of(meter.usage, model, self.settings.prices)
        plan_name = self.plans[work.step].name
        # Fields and context are shared, never mutated: copying them per task costs CPU.
        return TaskResult(
            plan_name, work.lineage, work.fields, work.context, status, text, value, error,
            meter.usage, model, meter.requests, cost, False, meter.finish_reason,
            TaskTiming(work.queued, work.started, time.time(), meter.latency, meter.requests),
        )  # fmt: skip

    def _from_cache(self, work: _Work, cached: TaskResult) -> TaskResult:
        name = self.plans[work.step].name
        return TaskResult(
            name, work.lineage, work.fields, work.context, result=cached.result,
            value=cached.value, model=cached.model, cached=True,
            finish_reason=cached.finish_reason, status=cached.status, timing=_timing(work),
        )  # fmt: skip

    def _ended(self, work: _Work, status: TaskStatus, error: BaseException | str) -> TaskResult:
        """A task that ended without an answer: failed before sending, or skipped."""
        name = self.plans[work.step].name
        reason = error if isinstance(error, str) else _describe(error)
        timing = _timing(work)
        return TaskResult(
            name, work.lineage, work.fields, work.context, status, error=reason, timing=timing
        )

    def _complete(self, work: _Work, result: TaskResult, children: list[_Work]) -> None:
        self._count_done(work.step, result)
        self._charge(result)
        if not result.ok and result.status is not FILTERED and self.settings.on_error == "raise":
            raise StepFailed(
                f"task {result.task_id!r} {result.status.value}: {result.error} "
                "(on_error='raise' stops the run; use on_error='skip' to record and go on)",
                task_id=result.task_id,
            )
        for child in children:
            self._enqueue_work(child)
        self._settle(work)

    def _settle(self, work: _Work) -> None:
        """`work` is over: release what waited for it, wake workers for new work."""
        self._finish_live(work)
        if self.barriers:
            self._release_barriers(work.root)
            self._release_barriers(ALL_ROOTS)
        elif not any(self.groups[work.root].live):
            del self.groups[work.root]
        ready = sum(map(len, self.pending))
        if ready and self.idle:
            self._wake(ready)

    def _children(self, work: _Work, result: TaskResult) -> tuple[TaskResult, list[_Work]]:
        """The next step's work from this result; a callback that fails fails the result."""
        plan = self.plans[work.step]
        callback = plan.callback
        if callback is None or not result.ok:
            if plan.join_paths and not result.ok:  # the joins below stop waiting for it
                return result, self.graph.absent(work.step, work.lineage, result, work.root)
            return result, []
        if callback.is_barrier:
            try:
                callback.admit(result)
            except Exception as exc:  # the callback failed this task only; recorded on it
                failed = dataclasses.replace(result, status=TaskStatus.FAILED, error=_describe(exc))
                return failed, []
            owner = ALL_ROOTS if callback.group_by == "all" else work.root
            self.groups[owner].held.setdefault(work.step, []).append(result)
            return result, []
        try:
            inputs = as_inputs(callback.map(result), f"step {plan.name!r}")[: self.max_children]
            if plan.next is None or plan.one_to_one:  # not a chain: branches, routes, joins
                return result, self._fan_out(plan, work, result, inputs)
        except Exception as exc:  # the callback failed this task only; recorded on it
            failed = dataclasses.replace(result, status=TaskStatus.FAILED, error=_describe(exc))
            if plan.join_paths:
                return failed, self.graph.absent(work.step, work.lineage, failed, work.root)
            return failed, []
        context = result.row() if plan.function is None else children_context(plan.function, result)
        return result, [
            _Work(plan.next, item.fields, context, (*work.lineage, i), work.root)
            for i, item in enumerate(inputs)
        ]

    def _fan_out(
        self, plan: StepPlan, work: _Work, result: TaskResult, inputs: list[TaskInput]
    ) -> list[_Work]:
        if plan.one_to_one and len(inputs) != 1:
            raise StepFailed(
                f"step {plan.name!r} gave {len(inputs)} inputs for task {result.task_id!r}; "
                "a step between a fork and its join must give exactly one per result"
            )
        context = result.row()
        return self.graph.fan_out(plan, result, work.lineage, inputs, context, work.root)

    def _skip_join(self, step: int, result: TaskResult) -> None:
        """A join task that will not run, since a branch it needs failed."""
        self.sink.skip(step, result)
        self.counts[step].created += 1
        self._count_done(step, result)

    def _enqueue_work(self, work: _Work, push: bool = True) -> _Work:
        work.queued = time.time()
        self._count_live(work, 1)
        self.counts[work.step].created += 1
        if push:
            self.pending[work.step].append(work)
        return work

    def _charge(self, result: TaskResult) -> None:
        budget = self.settings.budget
        if budget is None or self.stopped is not None:
            return
        self.stopped = budget.charge(result.usage, result.requests, result.cost)
        if self.stopped is not None:
            self._wake(len(self.idle))

    def _skip_pending(self) -> None:
        """After a budget stop: every task not yet started ends as skipped, with the reason."""
        if not self.rows_done:
            self._skip_unread_rows()
        for queue in self.pending:
            while queue:
                work = queue.popleft()
                skipped = self._ended(work, TaskStatus.SKIPPED, f"not run: {self.stopped}")
                self.sink.skip(work.step, skipped)
                self._count_done(work.step, skipped)
                self._finish_live(work)
                if self.plans[work.step].join_paths:  # its joins stop waiting: skipped too
                    for child in self.graph.absent(work.step, work.lineage, skipped, work.root):
                        self._enqueue_work(child)

    def _skip_unread_rows(self) -> None:
        """Input rows never read end as skipped tasks of the first step, so none goes unseen.

        `rows_done` stays False: nothing after the stop may release a barrier.
        """
        reason, name, counts = f"not run: {self.stopped}", self.plans[0].name, self.counts[0]
        for row in self.rows:
            if isinstance(row, _Work):  # a shard's task below a barrier: skipped below
                self._enqueue_work(row)
                continue
            root = self.roots_read
            self.roots_read += 1
            if isinstance(row, Rooted):
                root = row.root
                row = row.row
            now = time.time()
            timing = TaskTiming(now, now, now)
            if isinstance(row, UnusableRow):  # it could not have run anyway: say why
                ended = TaskResult(
                    name, (root,), {}, {}, TaskStatus.FAILED, error=row.message, timing=timing
                )
            else:
                ended = TaskResult(
                    name, (root,), row, {}, TaskStatus.SKIPPED, error=reason, timing=timing
                )
            self.sink.skip(0, ended)
            counts.created += 1
            self._count_done(0, ended)

    def _count_done(self, step: int, result: TaskResult) -> None:
        counts = self.counts[step]
        counts.done += 1
        if not result.ok:
            counts.failed += result.status is not FILTERED
        counts.cached += result.cached

    def _finish_live(self, work: _Work) -> None:
        self._count_live(work, -1)

    def _count_live(self, work: _Work, change: int) -> None:
        """Add `change` to the live tasks of `work`'s step, in its root's group and the
        whole run's (the same group for a task below a by="all" barrier)."""
        groups, root, step = self.groups, work.root, work.step
        groups[root].live[step] += change
        if root != ALL_ROOTS:
            groups[ALL_ROOTS].live[step] += change

    def _release_barriers(self, owner: int) -> None:
        group = self.groups.get(owner)
        if group is None:
            return
        for plan in self.barriers:
            callback = plan.callback
            assert callback is not None
            if plan.index in group.released:
                continue
            # The ALL_ROOTS group also holds by-root barriers of tasks below a by="all" one.
            by_all = callback.group_by == "all"
            if self.hold_whole_step and (by_all or owner == ALL_ROOTS):
                continue  # a shard: the driver runs it over every shard's results
            if (by_all and owner != ALL_ROOTS) or not self._settled(group, plan.index, owner):
                continue
            group.released.add(plan.index)
            self._release(plan, owner, group, group.held.pop(plan.index, []))
        if owner != ALL_ROOTS and not any(group.live):
            del self.groups[owner]

    def _settled(self, group: _Group, step: int, owner: int) -> bool:
        if owner == ALL_ROOTS and not self.rows_done:
            return False
        return not any(group.live[: step + 1])

    def _release(self, plan: StepPlan, owner: int, group: _Group, held: list[TaskResult]) -> None:
        if not held:
            return
        assert plan.callback is not None
        where = f"step {plan.name!r} callback"
        # Lineage order, not completion order: the same inputs give the same next prompt,
        # run after run, so the next step's cache keys hold.
        held.sort(key=lambda result: result.lineage)
        try:
            inputs: list[TaskInput] = as_inputs(plan.callback.reduce(held), where)
            inputs = inputs[: self.max_children]
        except FanflowError:
            raise
        except Exception as exc:
            raise StepFailed(f"{where} raised {type(exc).__name__}: {exc}") from exc
        prefix = (owner, *([0] * (plan.depth - 1)))
        if plan.next is None:  # branches or a route after the barrier
            for work in self.graph.fan_out(plan, held[0], prefix, inputs, group.row, owner):
                self._enqueue_work(work)
            return
        for i, item in enumerate(inputs):
            self._enqueue_work(_Work(plan.next, item.fields, group.row, (*prefix, i), owner))

    async def _idle(self) -> None:
        """Wait until woken: one waiter per ready task, so a completion wakes few workers."""
        event = anyio.Event()
        self.idle.append(event)
        try:
            await event.wait()
        finally:
            if not event.is_set():
                self.idle.remove(event)

    def _wake(self, count: int) -> None:
        for _ in range(min(count, len(self.idle))):
            self.idle.popleft().set()


def _timing(work: _Work) -> TaskTiming:
    """A task that sent no request: queued, started (now, if it never was) and finished now."""
    now = time.time()
    return TaskTiming(work.queued or now, work.started or now, now)


def _describe(exc: BaseException) -> str:
    # Any exception's text may quote a key a server echoed: redact before it is stored.
    return redact(f"{type(exc).__name__}: {exc}")
