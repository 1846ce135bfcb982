"""`Fields`: a structured answer (a JSON object) becomes the next step's fields.

A template whose answer is an object (`{"instruction": ..., "mutation": ...}`) uses it
as its default flow, so the next step binds `instruction` to the new instruction rather
than to the JSON text, and `EvolveInstruct() << EvolveInstruct(name="round_2")` chains.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fanflow._exceptions import ParseError
from fanflow._json import parse_lenient
from fanflow._values import TaskInput, TaskResult
from fanflow.callbacks import Callback

__all__ = ["Fields", "answer_object"]


class Fields(Callback):
    """Each result, a JSON object, becomes one next-step input holding its keys."""

    binds_target = False

    def map(self, result: TaskResult) -> TaskInput:
        return TaskInput(
            answer_object(result.result, f"step {result.step!r}, task {result.task_id!r}")
        )


def answer_object(text: str, where: str) -> dict[str, Any]:
    """`text` parsed as a JSON object; `ParseError` (with the raw text) otherwise."""
    value = parse_lenient(text)
    if not isinstance(value, Mapping):
        raise ParseError(
            f"{where}: the answer is a {type(value).__name__}, not a JSON object: {text[:80]!r}",
            raw=text,
        )
    return dict(value)
