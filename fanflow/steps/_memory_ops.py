"""Memory helpers spelled as in Dria: `Read.new("topic")`, `Write.new("answer")`, ...

Each `new` builds the `Input` or `Output` of the workflow document; the input's name is
its key, so `{{key}}` in a prompt renders it.
"""

from __future__ import annotations

from fanflow.steps._enums import InputValueType, OutputType
from fanflow.steps._workflow import Input, InputValue, Output

__all__ = ["GetAll", "Insert", "Peek", "Pop", "Push", "Read", "Size", "String", "Write"]


def _input(key: str, kind: InputValueType, required: bool, index: int | None = None) -> Input:
    return Input(name=key, value=InputValue(type=kind, key=key, index=index), required=required)


class Read:
    """Read a memory value (a stack renders as its items joined by newlines)."""

    @staticmethod
    def new(key: str, required: bool = True) -> Input:
        return _input(key, InputValueType.READ, required)


class Pop:
    """Take the newest item off a stack."""

    @staticmethod
    def new(key: str, required: bool = True) -> Input:
        return _input(key, InputValueType.POP, required)


class Peek:
    """Look at a stack's item `index`, counted from the oldest (0), without removing it."""

    @staticmethod
    def new(key: str, index: int = 0, required: bool = True) -> Input:
        return _input(key, InputValueType.PEEK, required, index)


class GetAll:
    """All items of a stack."""

    @staticmethod
    def new(key: str, required: bool = True) -> Input:
        return _input(key, InputValueType.GET_ALL, required)


class Size:
    """The number of items under a key (0 when absent)."""

    @staticmethod
    def new(key: str, required: bool = True) -> Input:
        return _input(key, InputValueType.SIZE, required)


class String:
    """A literal string under the name `key`."""

    @staticmethod
    def new(key: str, value: str, required: bool = True) -> Input:
        return Input(
            name=key, value=InputValue(type=InputValueType.STRING, key=value), required=required
        )


class Write:
    """Replace the value under `key` with the task's result."""

    @staticmethod
    def new(key: str) -> Output:
        return Output(type=OutputType.WRITE, key=key)


class Push:
    """Append the task's result to the stack under `key`."""

    @staticmethod
    def new(key: str) -> Output:
        return Output(type=OutputType.PUSH, key=key)


class Insert:
    """Append the task's result under `key` (Dria's vector insert; a stack push here)."""

    @staticmethod
    def new(key: str) -> Output:
        return Output(type=OutputType.INSERT, key=key)
