"""Lenient JSON parsing of model answers, strict about what comes out.

Models wrap JSON in code fences, add a sentence around it, use single quotes or leave a
trailing comma. `json_repair` (a maintained library) fixes those; fanflow then checks
that the outcome is what was asked for and says plainly when it is not.
"""

from __future__ import annotations

from typing import Any

import json_repair
import orjson

from fanflow._exceptions import ParseError

__all__ = ["parse_json", "parse_json_list"]

_EXCERPT = 300


def parse_json(text: str) -> Any:
    """The JSON value in `text`, repaired if needed; None when there is none."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    repaired = json_repair.loads(text)
    return None if repaired == "" else repaired


def parse_json_list(text: str, where: str) -> list[Any]:
    """The JSON list in `text`; `ParseError` naming `where` and showing the text otherwise."""
    value = parse_json(text)
    if isinstance(value, list):
        return value
    found = "no JSON" if value is None else f"a JSON {type(value).__name__}"
    raise ParseError(
        f"{where}: expected a JSON list to scatter, found {found} in the answer "
        f"{text[:_EXCERPT]!r}; ask the model for a list (e.g. 'Output a JSON list') or use "
        "a callback that fits the answer",
        raw=text,
    )
