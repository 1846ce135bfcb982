"""Memory helpers spelled as in Dria: `Read.new("topic")`, `Write.new("answer")`, ...

Each `new` builds the `Input` or `Output` of the workflow document; the input's name is
its key, so `{{key}}` in a prompt renders it.
"""

from __future__ import annotations

from fanflow.steps._enums import InputValueType, OutputType
from fanflow.steps._parts import Input, InputValue, Output, trusted_constructor

__all__ = ["GetAll", "Insert", "Peek", "Pop", "Push", "Read", "Size", "String", "Write"]


# Enum members as constants: `Enum.X` goes through a slow metaclass `__getattr__` hook.
_READ, _POP, _PEEK, _GET_ALL, _SIZE = (
    InputValueType.READ,
    InputValueType.POP,
    InputValueType.PEEK,
    InputValueType.GET_ALL,
    InputValueType.SIZE,
)
_WRITE, _PUSH, _INSERT = OutputType.WRITE, OutputType.PUSH, OutputType.INSERT


# Built once per step of every task's workflow: validation is skipped when the arguments'
# types show it would pass.
_new_read = trusted_constructor(InputValue, "type", "key", "index")
_new_input = trusted_constructor(Input, "name", "value", "required")
_new_output = trusted_constructor(Output, "type", "key")


def _input(key: str, kind: InputValueType, required: bool, index: int | None = None) -> Input:
    if type(key) is str and type(required) is bool and (index is None or type(index) is int):
        return _new_input(key, _new_read(kind, key, index), required)
    return Input(name=key, value=InputValue(type=kind, key=key, index=index), required=required)


def _output(key: str, kind: OutputType) -> Output:
    if type(key) is str:
        return _new_output(kind, key)
    return Output(type=kind, key=key)


class Read:
    """Read a memory value (a stack renders as its items joined by newlines)."""

    @staticmethod
    def new(key: str, required: bool = True) -> Input:
        return _input(key, _READ, required)


class Pop:
    """Take the newest item off a stack."""

    @staticmethod
    def new(key: str, required: bool = True) -> Input:
        return _input(key, _POP, required)


class Peek:
    """Look at a stack's item `index`, counted from the oldest (0), without removing it."""

    @staticmethod
    def new(key: str, index: int = 0, required: bool = True) -> Input:
        return _input(key, _PEEK, required, index)


class GetAll:
    """All items of a stack."""

    @staticmethod
    def new(key: str, required: bool = True) -> Input:
        return _input(key, _GET_ALL, required)


class Size:
    """The number of items under a key (0 when absent)."""

    @staticmethod
    def new(key: str, required: bool = True) -> Input:
        return _input(key, _SIZE, required)


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
        return _output(key, _WRITE)


class Push:
    """Append the task's result to the stack under `key`."""

    @staticmethod
    def new(key: str) -> Output:
        return _output(key, _PUSH)


class Insert:
    """Append the task's result under `key` (Dria's vector insert; a stack push here)."""

    @staticmethod
    def new(key: str) -> Output:
        return _output(key, _INSERT)
