"""The closed vocabularies of the workflow language, spelled as in Dria's JSON."""

from __future__ import annotations

from enum import Enum

__all__ = ["Expression", "InputValueType", "Operator", "OutputType", "PostProcessType"]


class InputValueType(str, Enum):
    """How a task reads memory."""

    INPUT = "input"
    READ = "read"
    POP = "pop"
    PEEK = "peek"
    GET_ALL = "get_all"
    SIZE = "size"
    STRING = "string"


class OutputType(str, Enum):
    """How a task writes its result to memory."""

    WRITE = "write"
    INSERT = "insert"
    PUSH = "push"


class Operator(str, Enum):
    """What a task does."""

    GENERATION = "generation"
    FUNCTION_CALLING = "function_calling"
    FUNCTION_CALLING_RAW = "function_calling_raw"
    SEARCH = "search"
    SAMPLE = "sample"
    END = "end"


class Expression(str, Enum):
    """How a condition compares a memory value with its expected value."""

    EQUAL = "Equal"
    NOT_EQUAL = "NotEqual"
    CONTAINS = "Contains"
    NOT_CONTAINS = "NotContains"
    GREATER_THAN = "GreaterThan"
    LESS_THAN = "LessThan"
    GREATER_THAN_OR_EQUAL = "GreaterThanOrEqual"
    LESS_THAN_OR_EQUAL = "LessThanOrEqual"
    HAVE_SIMILAR = "HaveSimilar"

    @property
    def is_numeric(self) -> bool:
        return self in _NUMERIC


_NUMERIC = frozenset(
    {
        Expression.GREATER_THAN,
        Expression.LESS_THAN,
        Expression.GREATER_THAN_OR_EQUAL,
        Expression.LESS_THAN_OR_EQUAL,
    }
)


class PostProcessType(str, Enum):
    """A text transformation applied to a workflow's return value."""

    REPLACE = "replace"
    APPEND = "append"
    PREPEND = "prepend"
    TRIM = "trim"
    TRIM_START = "trim_start"
    TRIM_END = "trim_end"
    TO_LOWER = "to_lower"
    TO_UPPER = "to_upper"
