"""Edge conditions and the return value: the two places a workflow reads memory to decide.

Comparisons are on stripped text. Numeric expressions parse both sides as numbers; a value
that is not a number is an `ExecutionError` naming the edge (the workflow's fallback, if
any, then applies), never a crash. `HaveSimilar` is true when the two texts are at least
80% alike (difflib ratio, case-insensitive): fanflow has no embedding model built in.
"""

from __future__ import annotations

from difflib import SequenceMatcher
from typing import Any

import orjson

from fanflow._exceptions import ExecutionError
from fanflow._json import json_or_text
from fanflow.engine.workflow._memory import Memory, MemoryValue, as_text
from fanflow.steps import (
    Condition,
    Expression,
    InputValue,
    PostProcessType,
    ReturnValue,
    TaskPostProcess,
)

__all__ = ["condition_holds", "return_text"]

SIMILARITY_THRESHOLD = 0.8

# Enum members bound once (why: bench/README.md, "Micro-costs").
_EQUAL, _NOT_EQUAL = Expression.EQUAL, Expression.NOT_EQUAL
_CONTAINS, _NOT_CONTAINS = Expression.CONTAINS, Expression.NOT_CONTAINS
_GREATER_THAN, _LESS_THAN = Expression.GREATER_THAN, Expression.LESS_THAN
_GREATER_THAN_OR_EQUAL = Expression.GREATER_THAN_OR_EQUAL


def condition_holds(condition: Condition, memory: Memory, where: str) -> bool:
    """Whether `condition` is true now; `where` names the edge for error messages."""
    found = memory.resolve(condition.input)
    actual = "" if found is None else as_text(found).strip()
    expected = condition.expected.strip()
    expression = condition.expression
    if expression.is_numeric:
        return _compare_numbers(expression, _number(actual, where), _number(expected, where))
    if expression == _EQUAL:
        return actual == expected
    if expression == _NOT_EQUAL:
        return actual != expected
    if expression == _CONTAINS:
        return expected in actual
    if expression == _NOT_CONTAINS:
        return expected not in actual
    ratio = SequenceMatcher(None, actual.lower(), expected.lower()).ratio()
    return ratio >= SIMILARITY_THRESHOLD


def _number(text: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ExecutionError(
            f"{where}: a numeric condition got {text[:80]!r}, which is not a number; compare "
            "with Size.new(...) or use Equal/Contains for text"
        ) from None


def _compare_numbers(expression: Expression, actual: float, expected: float) -> bool:
    if expression == _GREATER_THAN:
        return actual > expected
    if expression == _LESS_THAN:
        return actual < expected
    if expression == _GREATER_THAN_OR_EQUAL:
        return actual >= expected
    return actual <= expected


def return_text(spec: ReturnValue | None, memory: Memory) -> str:
    """The workflow's result text: one value, or with `to_json` a JSON array of values."""
    if spec is None:
        return ""
    if not spec.to_json and not isinstance(spec.input, list):  # most workflows: one text
        return as_text(_post_processed(_returned(spec.input, memory), spec.post_process))
    inputs = spec.input if isinstance(spec.input, list) else [spec.input]
    values = [_post_processed(_returned(item, memory), spec.post_process) for item in inputs]
    if not spec.to_json:
        return "\n".join(as_text(v) for v in values)
    items: list[Any] = []
    for value in values:
        if isinstance(value, list) and not isinstance(spec.input, list):
            items.extend(_json_item(v) for v in value)
        else:
            items.append(_json_item(value))
    return orjson.dumps(items).decode()


def _returned(item: InputValue, memory: Memory) -> MemoryValue:
    """The value `item` reads; a key nothing wrote fails the task rather than give ''."""
    value = memory.resolve(item)
    if value is None:
        raise ExecutionError(
            f"the workflow's return_value reads {item.key!r} ({item.type.value}), but no task "
            "wrote it on the path taken, so there is no result; write that key in a task "
            "or return another one"
        )
    return value


def _post_processed(value: MemoryValue | None, steps: list[TaskPostProcess] | None) -> MemoryValue:
    if value is None:
        return ""
    if not steps:  # a read gives a value of its own (a list is a copy): nothing to copy
        return value
    if isinstance(value, list):
        return [_apply(item, steps) for item in value]
    return _apply(value, steps)


def _apply(text: str, steps: list[TaskPostProcess]) -> str:
    for step in steps:
        lhs, rhs = step.lhs or "", step.rhs or ""
        kind = step.process_type
        if kind == PostProcessType.REPLACE:
            text = text.replace(lhs, rhs)
        elif kind == PostProcessType.APPEND:
            text = text + lhs
        elif kind == PostProcessType.PREPEND:
            text = lhs + text
        elif kind == PostProcessType.TRIM:
            text = text.strip()
        elif kind == PostProcessType.TRIM_START:
            text = text.lstrip()
        elif kind == PostProcessType.TRIM_END:
            text = text.rstrip()
        elif kind == PostProcessType.TO_LOWER:
            text = text.lower()
        else:
            text = text.upper()
    return text


def _json_item(value: MemoryValue) -> Any:
    """A stack item that is itself a JSON object or array is embedded, not quoted."""
    if isinstance(value, list):
        return [_json_item(v) for v in value]
    return json_or_text(value, containers_only=True)
