"""Failures grouped by kind: the exception type, the status code and the message with its
ids and numbers masked, so a thousand "timeout after 30.2 s on request 8812" are one kind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fanflow._values import TaskResult, TaskStatus

__all__ = ["FailureGroups", "FailureKind", "kind_of"]

MAX_KINDS = 50  # a report lists this many kinds at most; the rest are counted together
MESSAGE_CHARS = 300

_TYPE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Failed|Timeout|Limited|Interrupt)\w*): ")
_STATUS = re.compile(r"\b(?:status(?: code)?|HTTP|code)[ =:]*([1-5]\d\d)\b", re.IGNORECASE)
_MASKS = [
    # uuids and hex ids first, then quoted values, then any number
    (re.compile(r"\b[0-9a-f]{8}(?:-[0-9a-f]{4}){1,4}(?:-[0-9a-f]{12})?\b", re.IGNORECASE), "<id>"),
    (re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b", re.IGNORECASE), "<id>"),
    (re.compile(r"\b[\w-]+/\d+(?:\.\d+)+\b"), "<task>"),  # task ids: step/0.3.1
    (re.compile(r"\d+(?:[.,]\d+)*"), "<n>"),
]


@dataclass(slots=True)
class FailureKind:
    """One kind of failure: how many tasks ended so, and the first one as an example."""

    status: str
    error_type: str
    status_code: str
    message: str
    count: int
    example: TaskResult


def kind_of(result: TaskResult) -> tuple[str, str, str, str]:
    """(task status, exception type, status code, masked message) of a task not ok."""
    text = (result.error or "").strip()
    found = _TYPE.match(text)
    error_type = found[1] if found else ""
    message = text[found.end() :] if found else text
    code = _STATUS.search(message)
    for pattern, mask in _MASKS:
        message = pattern.sub(mask, message)
    return result.status.value, error_type, code[1] if code else "", message[:MESSAGE_CHARS]


class FailureGroups:
    """Failures gathered one task at a time: a count per kind, the first task as example."""

    def __init__(self) -> None:
        self._kinds: dict[tuple[str, str, str, str], FailureKind] = {}
        self.others = 0  # failures beyond the first MAX_KINDS kinds

    def add(self, result: TaskResult) -> None:
        if result.ok or result.status is TaskStatus.FILTERED:
            return  # filtered tasks are no failures
        key = kind_of(result)
        kind = self._kinds.get(key)
        if kind is not None:
            kind.count += 1
        elif len(self._kinds) < MAX_KINDS:
            self._kinds[key] = FailureKind(*key, count=1, example=result)
        else:
            self.others += 1

    def kinds(self) -> list[FailureKind]:
        """Most frequent first."""
        return sorted(self._kinds.values(), key=lambda kind: -kind.count)
