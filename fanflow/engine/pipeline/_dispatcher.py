"""The streaming dispatcher: every task of every step, under one concurrency limit.

`concurrency` workers run in one anyio task group. Each takes the deepest ready task (so
finished rows appear early and pending work stays bounded), else reads the next input row,
else waits. A finished task's result goes through its step's callback at once: a streaming
callback's inputs are ready immediately; a barrier callback holds results until its group
is complete, i.e. no task of that group's root (or of the whole run, for `by="all"`) is
pending or running at that step or above. Every task ends with a status and a reason.
Cancelling the run cancels the task group and so every task in flight.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio

from fanflow._exceptions import ConfigurationError, FanflowError, StepFailed
from fanflow.adapters import LLMAdapter
from fanflow.callbacks import as_inputs
from fanflow.engine._accounting import Budget, Prices, UsageMeter, cost_of
from fanflow.engine._executor import run_workflow
from fanflow.engine._keys import task_key
from fanflow.engine._plan import StepPlan, bind_inputs
from fanflow.engine._store import Store
from fanflow.steps import Lineage, TaskInput, TaskResult, TaskStatus, Workflow

__all__ = ["ALL_ROOTS", "DispatchSettings", "Dispatcher", "Listener"]

ALL_ROOTS = -1
"""The root index of tasks that descend from an `Aggregate(by="all")` group."""

Listener = Callable[[str, int, TaskResult | None], None]
"""Told of each event: ("created" | "started" | "finished", step index, result or None)."""


@dataclass(frozen=True, slots=True)
class DispatchSettings:
    concurrency: int
    task_timeout: float | None
    on_error: str
    budget: Budget | None = None
    prices: Prices | None = None
    store: Store | None = None
    run_id: str = ""
    use_cache: bool = True
    default_model: str | None = None


@dataclass(slots=True)
class _Work:
    step: int
    fields: Mapping[str, Any]
    context: Mapping[str, Any]
    lineage: Lineage
    root: int


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
        rows: Iterator[Mapping[str, Any]],
        sink: Callable[[TaskResult], None],
        listener: Listener | None = None,
    ) -> None:
        self.plans = plans
        self.adapter = adapter
        self.settings = settings
        self.rows = rows
        self.sink = sink
        self.listener = listener or (lambda event, step, result: None)
        self.pending: list[deque[_Work]] = [deque() for _ in plans]
        self.groups: dict[int, _Group] = {ALL_ROOTS: _Group([0] * len(plans), {})}
        self.running = 0
        self.roots_read = 0
        self.rows_done = False
        self.idle: deque[anyio.Event] = deque()
        self.stopped: str | None = None
        self.max_children: int | None = None
        self.cut_off: list[TaskResult] = []  # stopped while being saved: saved or not?
        self.barriers = [p for p in plans if p.callback is not None and p.callback.is_barrier]

    def limit_children_to_one(self) -> None:
        """For dry runs: every callback passes on at most one input."""
        self.max_children = 1

    async def run(self) -> None:
        async with anyio.create_task_group() as group:
            for _ in range(self.settings.concurrency):
                group.start_soon(self._worker)

    async def _worker(self) -> None:
        while (work := await self._next()) is not None:
            self.running += 1
            self.listener("started", work.step, None)
            try:
                result, key = await self._execute(work)
                children = self._children(work, result)  # may fail the result: save after
                if self.settings.store is not None:
                    # Wait for the commit: the worker holds its slot meanwhile, so results
                    # answered but not yet saved never exceed the concurrency.
                    try:
                        await self.settings.store.put(self.settings.run_id, work.step, key, result)
                    except BaseException:
                        self.cut_off.append(result)  # its commit may land all the same
                        raise
            finally:
                self.running -= 1
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
        self.groups[root] = _Group([0] * len(self.plans), row)
        return self._enqueue_work(_Work(0, row, {}, (root,), root), push=False)

    async def _execute(self, work: _Work) -> tuple[TaskResult, str]:
        """Run one task, or take it from the cache; the result and its content key."""
        plan = self.plans[work.step]
        models = plan.template.models
        model = models[work.lineage[-1] % len(models)] if models else None
        # Fields and context are shared, never mutated: copying them per task costs CPU.
        result = TaskResult(plan.name, work.lineage, work.fields, work.context)
        key = ""
        try:
            workflow = self._workflow(plan, work)
            if self.settings.store is not None:  # keys only matter to the store
                key = task_key(workflow, model or self.settings.default_model, work.lineage)
            await self._answer(result, workflow, model, key)
        except Exception as exc:  # recorded on the result and surfaced in PipelineResult
            _fail(result, TaskStatus.FAILED, exc)
        return result, key

    async def _answer(
        self, result: TaskResult, workflow: Workflow, model: str | None, key: str
    ) -> None:
        store = self.settings.store
        cached = store.lookup(key) if store is not None and self.settings.use_cache else None
        if cached is not None:
            result.result, result.value, result.cached = cached.result, cached.value, True
            result.model = cached.model
            return
        meter = UsageMeter()
        try:
            outcome = await run_workflow(
                workflow, self.adapter, model, timeout=self.settings.task_timeout, meter=meter
            )
        except TimeoutError as exc:
            _fail(result, TaskStatus.TIMED_OUT, exc)
        except Exception as exc:  # recorded on the result and surfaced in PipelineResult
            _fail(result, TaskStatus.FAILED, exc)
        else:
            result.result, result.value = outcome.result, outcome.value
        result.usage, result.requests = meter.usage, meter.requests
        result.model = model or meter.model
        result.cost = cost_of(meter.usage, result.model, self.settings.prices)

    def _workflow(self, plan: StepPlan, work: _Work) -> Workflow:
        kwargs = bind_inputs(plan, work.fields, work.context)
        workflow = plan.template.create_workflow(**kwargs)
        if not isinstance(workflow, Workflow):
            raise ConfigurationError(
                f"step {plan.name!r}: create_workflow returned {type(workflow).__name__}, "
                "not a Workflow; return builder.build()"
            )
        params = plan.template.workflow_params
        if params:
            config = workflow.config.model_copy(update=params)
            workflow = workflow.model_copy(update={"config": config})
        return workflow

    def _complete(self, work: _Work, result: TaskResult, children: list[_Work]) -> None:
        self.sink(result)
        self.listener("finished", work.step, result)
        self._charge(result)
        if not result.ok and self.settings.on_error == "raise":
            raise StepFailed(
                f"task {result.task_id!r} {result.status.value}: {result.error} "
                "(on_error='raise' stops the run; use on_error='skip' to record and go on)",
                task_id=result.task_id,
            )
        for child in children:
            self._enqueue_work(child)
        self._finish_live(work)
        if self.barriers:
            self._release_barriers(work.root)
            self._release_barriers(ALL_ROOTS)
        elif not any(self.groups[work.root].live):
            del self.groups[work.root]
        ready = sum(map(len, self.pending))
        if ready and self.idle:
            self._wake(ready)

    def _children(self, work: _Work, result: TaskResult) -> list[_Work]:
        plan = self.plans[work.step]
        callback = plan.callback
        if callback is None or not result.ok:
            return []
        if callback.is_barrier:
            owner = ALL_ROOTS if callback.group_by == "all" else work.root
            self.groups[owner].held.setdefault(work.step, []).append(result)
            return []
        try:
            inputs = as_inputs(callback.map(result), f"step {plan.name!r}")[: self.max_children]
        except Exception as exc:  # the callback failed this task only; recorded on it
            _fail(result, TaskStatus.FAILED, exc)
            return []
        context = result.row()
        return [
            _Work(work.step + 1, item.fields, context, (*work.lineage, i), work.root)
            for i, item in enumerate(inputs)
        ]

    def _enqueue_work(self, work: _Work, push: bool = True) -> _Work:
        for owner in {work.root, ALL_ROOTS}:
            self.groups[owner].live[work.step] += 1
        self.listener("created", work.step, None)
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
        for queue in self.pending:
            while queue:
                work = queue.popleft()
                plan = self.plans[work.step]
                skipped = TaskResult(plan.name, work.lineage, work.fields, work.context)
                skipped.status, skipped.error = TaskStatus.SKIPPED, f"not run: {self.stopped}"
                if self.settings.store is not None:
                    self.settings.store.put_nowait(self.settings.run_id, work.step, "", skipped)
                self.sink(skipped)
                self.listener("finished", work.step, skipped)
                self._finish_live(work)

    def _finish_live(self, work: _Work) -> None:
        for owner in {work.root, ALL_ROOTS}:
            self.groups[owner].live[work.step] -= 1

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
        prefix = (owner, *([0] * plan.index))
        for i, item in enumerate(inputs):
            self._enqueue_work(_Work(plan.index + 1, item.fields, group.row, (*prefix, i), owner))

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


def _fail(result: TaskResult, status: TaskStatus, exc: BaseException) -> None:
    result.status = status
    result.error = f"{type(exc).__name__}: {exc}"
