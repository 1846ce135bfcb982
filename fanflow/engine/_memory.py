"""Workflow memory: a cache of single values and stacks of items, as in Dria.

- `write` replaces the cache value; `push` and `insert` append to the stack.
- `read` gives the cache value, or a stack's items joined by newlines.
- `pop` takes the newest stack item; `peek(i)` counts from the oldest (0).
- `get_all` gives all stack items (a cache value counts as one item).
- `size` gives the item count as text (0 when absent); `string` gives its key literally.

A read that finds nothing returns None; the executor decides whether that is an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from fanflow.steps import InputValue, InputValueType, Output, OutputType

__all__ = ["Memory", "MemoryValue", "as_text", "render"]

MemoryValue = str | list[str]

_VARIABLE = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_RESULT = "__result"


class Memory:
    """The mutable memory of one workflow run."""

    __slots__ = ("cache", "stacks")

    def __init__(self, initial: Mapping[str, MemoryValue] | None = None) -> None:
        self.cache: dict[str, str] = {}
        self.stacks: dict[str, list[str]] = {}
        for key, value in (initial or {}).items():
            if isinstance(value, str):
                self.cache[key] = value
            else:
                self.stacks[key] = list(value)

    def resolve(self, value: InputValue) -> MemoryValue | None:
        """Read memory as `value.type` says; None when there is nothing to read."""
        kind, key = value.type, value.key
        if kind == InputValueType.STRING:
            return key
        if kind == InputValueType.SIZE:
            return str(self._size(key))
        if kind in (InputValueType.READ, InputValueType.INPUT):
            return self._read(key)
        if kind == InputValueType.GET_ALL:
            return self._get_all(key)
        if kind == InputValueType.POP:
            stack = self.stacks.get(key)
            return stack.pop() if stack else None
        return self._peek(key, value.index or 0)

    def store(self, output: Output, result: str) -> None:
        """Apply one output of a task whose result text is `result`."""
        text = result if output.value == _RESULT else output.value
        if output.type == OutputType.WRITE:
            self.cache[output.key] = text
        else:
            self.stacks.setdefault(output.key, []).append(text)

    def snapshot(self) -> dict[str, MemoryValue]:
        """A copy of everything in memory: cache values and stacks."""
        merged: dict[str, MemoryValue] = {k: list(v) for k, v in self.stacks.items()}
        merged.update(self.cache)
        return merged

    def _size(self, key: str) -> int:
        if key in self.stacks:
            return len(self.stacks[key])
        return 1 if key in self.cache else 0

    def _read(self, key: str) -> MemoryValue | None:
        if key in self.cache:
            return self.cache[key]
        stack = self.stacks.get(key)
        return "\n".join(stack) if stack else None

    def _get_all(self, key: str) -> MemoryValue | None:
        if self.stacks.get(key):
            return list(self.stacks[key])
        return [self.cache[key]] if key in self.cache else None

    def _peek(self, key: str, index: int) -> MemoryValue | None:
        stack = self.stacks.get(key, [])
        return stack[index] if -len(stack) <= index < len(stack) else None


def as_text(value: MemoryValue) -> str:
    """A memory value as prompt text: a stack renders as its items joined by newlines."""
    return value if isinstance(value, str) else "\n".join(value)


def render(template: str, values: Mapping[str, MemoryValue]) -> str:
    """Replace each `{{name}}` with its value; a name with no value renders as empty text."""
    if "{{" not in template:
        return template
    return _VARIABLE.sub(lambda m: as_text(values.get(m.group(1), "")), template)
