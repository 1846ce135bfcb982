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
from functools import lru_cache
from typing import cast

from fanflow.steps import InputValue, InputValueType, Output, OutputType

__all__ = ["Memory", "MemoryValue", "as_text", "render"]

MemoryValue = str | list[str]

_VARIABLE = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_RESULT = "__result"

# Enum members bound once (why: bench/README.md, "Micro-costs").
_READS = (InputValueType.READ, InputValueType.INPUT)
_STRING, _SIZE = InputValueType.STRING, InputValueType.SIZE
_GET_ALL, _POP = InputValueType.GET_ALL, InputValueType.POP
_WRITE = OutputType.WRITE


class Memory:
    """The mutable memory of one workflow run."""

    __slots__ = ("cache", "stacks")

    def __init__(self, initial: Mapping[str, MemoryValue] | None = None) -> None:
        cache: dict[str, str] = {}
        stacks: dict[str, list[str]] = {}
        if initial:
            for key, value in initial.items():
                if isinstance(value, str):
                    cache[key] = value
                else:
                    stacks[key] = list(value)
        self.cache = cache
        self.stacks = stacks

    def resolve(self, value: InputValue) -> MemoryValue | None:
        """Read memory as `value.type` says; None when there is nothing to read."""
        kind, key = value.type, value.key
        if kind in _READS:  # the common reads first
            return self._read(key)
        if kind == _STRING:
            return key
        if kind == _SIZE:
            return str(self._size(key))
        if kind == _GET_ALL:
            return self._get_all(key)
        if kind == _POP:
            stack = self.stacks.get(key)
            return stack.pop() if stack else None
        return self._peek(key, value.index or 0)

    def store(self, output: Output, result: str) -> None:
        """Apply one output of a task whose result text is `result`."""
        text = result if output.value == _RESULT else output.value
        if output.type == _WRITE:
            self.cache[output.key] = text
        else:
            self.stacks.setdefault(output.key, []).append(text)

    def take(self) -> dict[str, MemoryValue]:
        """Everything in memory, stacks first, a key in both holding its cache value.

        For a run that is over: its dicts and lists are handed over, not copied. They are
        this memory's own (`__init__` copies what it is given), so the result shares nothing
        with the workflow or another run; the memory must not be used afterwards.
        """
        if not self.stacks:
            return cast(dict[str, MemoryValue], self.cache)
        merged: dict[str, MemoryValue] = dict(self.stacks)
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
    text, fields = _parsed(template)
    for name, literal in fields:  # a template has a few fields: adding beats a join
        value = values.get(name, "")
        text += as_text(value) + literal
    return text


@lru_cache(maxsize=256)
def _parsed(template: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The text before the first `{{name}}`, then each name with the text that follows it.

    Cached: a pipeline renders the same few templates once per task, and matching the
    pattern costs more than joining the pieces.
    """
    parts = _VARIABLE.split(template)  # [text, name, text, name, ..., text]
    return parts[0], tuple(zip(parts[1::2], parts[2::2], strict=True))
