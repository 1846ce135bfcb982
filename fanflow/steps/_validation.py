"""Semantic checks of a workflow, run on every construction and load.

Where Dria is loose, fanflow refuses before anything is sent:

- task ids are unique and the `_end` task exists when any edge targets it;
- every edge `source`, `target`, `fallback` and `target_if_not` names a task, and no task
  is the source of two edges (the executor follows one edge; branch with a condition);
  loading a document (`open_branches=True`) lets a `fallback` or `target_if_not` name no
  task, as Dria's own templates do: Dria's executor ends the workflow on such a branch,
  and so does fanflow's; a warning names each one, once per workflow shape;
- every `{{var}}` in a task's messages is the name of one of that task's inputs;
- every required memory read is provided by the initial memory or by an output of a task
  that can run before it (a task from which it is reachable, itself included in a loop);
- every task can reach `_end`;
- a numeric condition (`GreaterThan`, ...) has a numeric `expected`.
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from collections.abc import Hashable, Iterable
from functools import lru_cache
from typing import Protocol

from fanflow._exceptions import ConfigurationError
from fanflow._redact import get_logger
from fanflow.steps._enums import InputValueType, Operator
from fanflow.steps._parts import Edge, InputValue, ReturnValue, Task


class Workflow(Protocol):
    """What the checks read of a `fanflow.Workflow` (which calls them, so sits above)."""

    @property
    def external_memory(self) -> dict[str, str | list[str]] | None: ...
    @property
    def tasks(self) -> list[Task]: ...
    @property
    def steps(self) -> list[Edge]: ...
    @property
    def return_value(self) -> ReturnValue | None: ...


__all__ = ["TEMPLATE_VARIABLE", "check_workflow", "template_variables"]

_log = get_logger("fanflow.steps")

TEMPLATE_VARIABLE = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_MEMORY_FREE_READS = frozenset({InputValueType.STRING, InputValueType.SIZE})


@lru_cache(maxsize=1024)
def template_variables(text: str) -> tuple[str, ...]:
    """The distinct `{{var}}` names in `text`, in order of first appearance.

    Cached: a pipeline renders the same few templates into every task's workflow.
    """
    return tuple(dict.fromkeys(TEMPLATE_VARIABLE.findall(text)))


def check_workflow(workflow: Workflow, *, open_branches: bool = False) -> None:
    """Raise `ConfigurationError` naming the first problem found and how to fix it.

    `open_branches` (for loaded documents) lets a `fallback` or `target_if_not` name no
    task, with a warning: taking that branch ends the workflow, as in Dria.
    A pipeline builds one workflow per task, nearly all of the same shape, so shapes that
    passed are remembered (`_shape` holds everything the checks read) and not checked again.
    """
    shape = _shape(workflow)
    if open_branches:
        shape = (_OPEN_BRANCHES, shape)
    if shape in _PASSED:
        return
    _check(workflow, open_branches)
    if len(_PASSED) >= _PASSED_LIMIT:
        _PASSED.clear()
    _PASSED.add(shape)


_PASSED: set[Hashable] = set()
_PASSED_LIMIT = 4096
_OPEN_BRANCHES = "open_branches"  # marks the shapes that passed with open branches allowed


def _shape(workflow: Workflow) -> Hashable:
    """One flat tuple of everything the checks read; built once per workflow, so kept cheap.

    Each task and edge part starts with the lengths of its variable parts, so two
    different workflows never flatten to equal tuples. Fields are read from `__dict__`
    (where pydantic keeps them): one attribute lookup per model instead of one per field,
    each slowed by `BaseModel.__getattr__`.
    """
    fields = workflow.__dict__
    tasks, edges = fields["tasks"], fields["steps"]
    shape: list[object] = [len(tasks), len(edges)]
    add = shape.append
    for task in tasks:
        task_fields = task.__dict__
        inputs, messages, outputs = (
            task_fields["inputs"],
            task_fields["messages"],
            task_fields["outputs"],
        )
        shape += (
            task_fields["id"],
            task_fields["operator"],
            len(inputs),
            len(messages),
            len(outputs),
        )
        for item in inputs:
            input_fields = item.__dict__
            value = input_fields["value"].__dict__
            shape += (input_fields["name"], value["type"], value["key"], input_fields["required"])
        for message in messages:
            add(message.content)
        for output in outputs:
            add(output.key)
    for edge in edges:
        edge_fields = edge.__dict__
        condition = edge_fields["condition"]
        shape += (
            edge_fields["source"],
            edge_fields["target"],
            edge_fields["fallback"],
            condition is None,
        )
        if condition is not None:
            read = condition.input
            shape += (
                read.type,
                read.key,
                condition.expected,
                condition.expression,
                condition.target_if_not,
            )
    shape += fields["external_memory"] or ()
    return tuple(shape)


def _check(workflow: Workflow, open_branches: bool) -> None:
    ids = _unique_task_ids(workflow.tasks)
    open_ends = _open_branches(workflow.steps, ids) if open_branches else set()
    for edge in workflow.steps:
        _check_edge(edge, ids | open_ends)
    _check_one_edge_per_source(workflow.steps)
    successors = _successor_map(workflow.steps)
    for task in workflow.tasks:
        _check_template_variables(task)
    _check_reads(workflow, successors)
    _check_reaches_end(workflow, successors, open_ends)


def _open_branches(edges: Iterable[Edge], ids: set[str]) -> set[str]:
    """The `fallback` and `target_if_not` names that name no task, each warned about."""
    found: set[str] = set()
    for edge in edges:
        branches = {"fallback": edge.fallback}
        if edge.condition is not None:
            branches["target_if_not"] = edge.condition.target_if_not
        for role, name in branches.items():
            if name is None or name in ids:
                continue
            found.add(name)
            _log.warning(
                "workflow edge %r -> %r: its %s %r names no task; as in Dria, taking that "
                "branch ends the workflow (with what its memory holds then). If that is a "
                "typo, name one of: %s",
                edge.source,
                edge.target,
                role,
                name,
                ", ".join(sorted(ids)),
            )
    return found


def _unique_task_ids(tasks: Iterable[Task]) -> set[str]:
    seen: set[str] = set()
    for task in tasks:
        if task.id in seen:
            raise ConfigurationError(f"two tasks have the id {task.id!r}; give each a unique id")
        seen.add(task.id)
    return seen


def _check_edge(edge: Edge, ids: set[str]) -> None:
    named = {"source": edge.source, "target": edge.target, "fallback": edge.fallback}
    if edge.condition is not None:
        named["target_if_not"] = edge.condition.target_if_not
    for role, task_id in named.items():
        if task_id is not None and task_id not in ids:
            raise ConfigurationError(
                f"edge {edge.source!r} -> {edge.target!r}: its {role} {task_id!r} names no task; "
                f"use one of: {', '.join(sorted(ids))}"
            )
    condition = edge.condition
    if condition is not None and condition.expression.is_numeric:
        try:
            float(condition.expected)
        except ValueError:
            raise ConfigurationError(
                f"edge {edge.source!r} -> {edge.target!r}: condition {condition.expression.value} "
                f"compares numbers but expected is {condition.expected!r}; give a number or use "
                "Equal/Contains for text"
            ) from None


def _check_one_edge_per_source(edges: Iterable[Edge]) -> None:
    targets: dict[str, list[str]] = defaultdict(list)
    for edge in edges:
        targets[edge.source].append(edge.target)
    for source, names in targets.items():
        if len(names) > 1:
            raise ConfigurationError(
                f"task {source!r} has {len(names)} outgoing edges (to {', '.join(names)}) but a "
                "task is followed by one edge; keep one and branch with its condition "
                "(target / target_if_not)"
            )


def _successor_map(edges: Iterable[Edge]) -> dict[str, set[str]]:
    successors: dict[str, set[str]] = defaultdict(set)
    for edge in edges:
        successors[edge.source].add(edge.target)
        if edge.fallback is not None:
            successors[edge.source].add(edge.fallback)
        if edge.condition is not None:
            successors[edge.source].add(edge.condition.target_if_not)
    return successors


def _check_template_variables(task: Task) -> None:
    names = {item.name for item in task.inputs}
    for message in task.messages:
        for variable in template_variables(message.content):
            if variable not in names:
                raise ConfigurationError(
                    f"task {task.id!r} uses {{{{{variable}}}}} but has no input named "
                    f"{variable!r}; add one (e.g. Read.new({variable!r})) or put {variable!r} "
                    "in the workflow's memory"
                )


def _check_reads(workflow: Workflow, successors: dict[str, set[str]]) -> None:
    initial = set((workflow.external_memory or {}).keys())
    writers = _writers_by_key(workflow.tasks)
    predecessors = _predecessor_map(successors)
    for task in workflow.tasks:
        before = _reachable(task.id, predecessors)
        for item in task.inputs:
            if item.required and not _is_provided(item.value, initial, writers, before):
                raise ConfigurationError(
                    f"task {task.id!r} reads {item.value.key!r} ({item.value.type.value}) but "
                    "neither the initial memory nor any task that runs before it writes that "
                    f"key; add {item.value.key!r} to the memory, write it in an earlier task, "
                    "or mark the input required=False"
                )
    _check_condition_reads(workflow, initial, writers, predecessors)


def _check_condition_reads(
    workflow: Workflow,
    initial: set[str],
    writers: dict[str, set[str]],
    predecessors: dict[str, set[str]],
) -> None:
    for edge in workflow.steps:
        if edge.condition is None or edge.condition.input.type == InputValueType.SIZE:
            continue
        before = _reachable(edge.source, predecessors) | {edge.source}
        if not _is_provided(edge.condition.input, initial, writers, before):
            raise ConfigurationError(
                f"the condition on edge {edge.source!r} -> {edge.target!r} reads "
                f"{edge.condition.input.key!r}, which nothing writes before it; write that key "
                "first or test another one"
            )


def _writers_by_key(tasks: Iterable[Task]) -> dict[str, set[str]]:
    writers: dict[str, set[str]] = defaultdict(set)
    for task in tasks:
        for output in task.outputs:
            writers[output.key].add(task.id)
    return writers


def _is_provided(
    value: InputValue, initial: set[str], writers: dict[str, set[str]], before: set[str]
) -> bool:
    if value.type in _MEMORY_FREE_READS:
        return True
    return value.key in initial or bool(writers.get(value.key, set()) & before)


def _predecessor_map(successors: dict[str, set[str]]) -> dict[str, set[str]]:
    predecessors: dict[str, set[str]] = defaultdict(set)
    for source, targets in successors.items():
        for target in targets:
            predecessors[target].add(source)
    return predecessors


def _check_reaches_end(
    workflow: Workflow, successors: dict[str, set[str]], open_ends: set[str]
) -> None:
    ends = {task.id for task in workflow.tasks if task.operator == Operator.END} | open_ends
    for task in workflow.tasks:
        if task.id in ends:
            continue
        if not _reachable(task.id, successors) & ends:
            raise ConfigurationError(
                f"task {task.id!r} has no path to an end task; add an edge from it "
                "(e.g. Edge(source=..., target='_end')) so the workflow can finish"
            )


def _reachable(start: str, successors: dict[str, set[str]]) -> set[str]:
    """Everything reachable from `start` along `successors` (`start` only via a loop)."""
    found: set[str] = set()
    queue = deque([start])
    while queue:
        current = queue.popleft()
        for nxt in successors.get(current, ()):
            if nxt not in found:
                found.add(nxt)
                queue.append(nxt)
    return found
