"""Where results go in a graph that is not a straight line: branches, routes and joins.

The dispatcher's hot path handles a chain itself (`StepPlan.next`); for a step with
several children, a `Route`, or a join below it, it hands the inputs a result made to
`GraphFlow.fan_out`. A join task waits, keyed by its upstream task's lineage
(`_join_plan.py`), until each of the join's parents has either arrived or is known not to
come (its task failed, or a Route sent the input elsewhere); then it is ready, or skipped
with a reason when a failed parent's result was a required parameter. Nothing waits for
anything else: a join is not a barrier.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fanflow._values import Lineage, TaskInput, TaskResult, TaskStatus, TaskTiming
from fanflow.engine.pipeline._plan import StepPlan
from fanflow.engine.pipeline._work import Work

__all__ = ["GraphFlow"]


@dataclass(slots=True)
class _Waiting:
    """One join task being gathered: what each parent gave, and which will not come."""

    given: dict[int, tuple[Mapping[str, Any], Mapping[str, Any]]] = field(default_factory=dict)
    missing: dict[int, str | None] = field(default_factory=dict)  # None: routed elsewhere


class GraphFlow:
    """Turns a result's inputs into work for its children, gathering joins."""

    def __init__(self, plans: list[StepPlan], skipped: Callable[[int, TaskResult], None]) -> None:
        self.plans = plans
        self.skipped = skipped  # keeps a join task that will not run (failed branch)
        self.waiting: dict[tuple[int, Lineage], _Waiting] = {}

    def fan_out(
        self,
        plan: StepPlan,
        result: TaskResult | None,
        base: Lineage,
        items: Sequence[TaskInput],
        context: Mapping[str, Any],
        root: int,
    ) -> list[Work]:
        """Work for every child of `plan` from `items`, the inputs `result` made."""
        works: list[Work] = []
        route = plan.route
        routed = set(route.names) if route is not None else set()
        for i, item in enumerate(items):
            lineage = (*base, i)
            chosen = None if route is None or result is None else route.choose(result, lineage)
            for child in plan.children:
                target = self.plans[child]
                if chosen is not None and target.name in routed and target.name not in chosen:
                    works += self.absent(child, lineage, None, root)  # routed elsewhere
                elif target.join is not None:
                    works += self._arrive(target, plan.index, lineage, item, context, root)
                else:
                    works.append(Work(child, item.fields, context, lineage, root))
        return works

    def absent(
        self, step: int, lineage: Lineage, failed: TaskResult | None, root: int
    ) -> list[Work]:
        """The task of `step` at `lineage` gave nothing (`failed`, else routed elsewhere):
        the joins it leads to stop waiting for it."""
        works: list[Work] = []
        why = None if failed is None else f"{failed.task_id} {failed.status.value}: {failed.error}"
        for join_index, parent in self.plans[step].join_paths:
            join = self.plans[join_index]
            assert join.join is not None
            key = lineage[: join.join.key_length]
            waiting = self.waiting.setdefault((join_index, key), _Waiting())
            waiting.missing[parent] = why
            works += self._if_complete(join, key, waiting, root)
        return works

    def _arrive(
        self,
        join: StepPlan,
        parent: int,
        lineage: Lineage,
        item: TaskInput,
        context: Mapping[str, Any],
        root: int,
    ) -> list[Work]:
        assert join.join is not None
        key = lineage[: join.join.key_length]
        waiting = self.waiting.setdefault((join.index, key), _Waiting())
        waiting.given[parent] = (item.fields, context)
        return self._if_complete(join, key, waiting, root)

    def _if_complete(
        self, join: StepPlan, key: Lineage, waiting: _Waiting, root: int
    ) -> list[Work]:
        if len(waiting.given) + len(waiting.missing) < len(join.parents):
            return []
        del self.waiting[(join.index, key)]
        fields: dict[str, Any] = {}
        context: dict[str, Any] = {}
        for parent in join.parents:  # in parent order: the same inputs, run after run
            if parent in waiting.given:
                given_fields, given_context = waiting.given[parent]
                context.update(given_context)
                fields.update(given_fields)
        reason = self._skip_reason(join, waiting)
        if reason is None:
            return [Work(join.index, fields, context, key, root)]
        now = time.time()
        ended = TaskResult(
            join.name, key, fields, context, TaskStatus.SKIPPED, error=reason,
            timing=TaskTiming(now, now, now),
        )  # fmt: skip
        self.skipped(join.index, ended)
        return self.absent(join.index, key, ended, root) if join.join_paths else []

    def _skip_reason(self, join: StepPlan, waiting: _Waiting) -> str | None:
        """Why the join task cannot run: a failed branch whose result it requires."""
        assert join.join is not None
        for parent, why in waiting.missing.items():
            if why is None:
                continue  # routed elsewhere: the join binds only the chosen branches
            needed = sorted(n for n in join.join.binds[parent] if join.params.get(n, False))
            if needed or join.accepts_any:
                return (
                    f"not run: branch {self.plans[parent].name!r} gave no result for it "
                    f"({why}); give {needed or 'the parameter'} a default in "
                    f"{join.name!r}'s create_workflow to run it without that branch"
                )
        return None
