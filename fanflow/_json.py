"""Model answers as JSON: the one place fanflow parses them.

Three strengths, for three uses:

- `json_or_text(text)`: the value where the text is exactly JSON, else the text itself
  (a task's `value`, read again from the store the same way).
- `parse_strict(text)`: JSON, allowing only a code fence around it; `ParseError` otherwise
  (structured output, which is validated and repaired by asking the model again).
- `parse_lenient(text)`: repaired where a model slipped (fences, prose around the value,
  single quotes, trailing commas) by `json_repair`, a maintained library; None when there
  is no JSON at all. `parse_list(text, where)` is the same, strict about getting a list
  (what `Scatter` needs), with an error naming `where` and showing the text.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from fanflow._exceptions import ParseError

__all__ = [
    "json_or_text",
    "parse_json",
    "parse_json_list",
    "parse_lenient",
    "parse_list",
    "parse_strict",
    "strip_fences",
]

_EXCERPT = 300
_FENCE = re.compile(r"^\s*```[\w-]*\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)
_JSON_STARTS = frozenset('[{"-0123456789tfn')
_CONTAINER_STARTS = frozenset("[{")


def strip_fences(text: str) -> str:
    """The body of a Markdown code fence around the whole text, else the text."""
    match = _FENCE.match(text)
    return match.group(1) if match else text


def json_or_text(text: str, containers_only: bool = False) -> Any:
    """`text` parsed as JSON where it is JSON (only objects and arrays if
    `containers_only`), else `text` itself. Never repairs, never raises."""
    # Most answers are prose; a failed parse raises, and raising costs more than this test.
    starts = _CONTAINER_STARTS if containers_only else _JSON_STARTS
    if text.lstrip()[:1] not in starts:
        return text
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def parse_strict(text: str) -> Any:
    """The JSON value in `text`, a code fence allowed; `ParseError` (with the raw text)."""
    try:
        return orjson.loads(strip_fences(text))
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"it is not JSON ({exc})", raw=text) from exc


def parse_lenient(text: str) -> Any:
    """The JSON value in `text`, repaired if needed; None when there is none."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    import json_repair  # only answers that need repair pay for importing it

    repaired = json_repair.loads(text)
    return None if repaired == "" else repaired


def parse_list(text: str, where: str) -> list[Any]:
    """The JSON list in `text`, repaired if needed; `ParseError` naming `where` otherwise."""
    value = parse_lenient(text)
    if isinstance(value, list):
        return value
    found = "no JSON" if value is None else f"a JSON {type(value).__name__}"
    raise ParseError(
        f"{where}: expected a JSON list to scatter, found {found} in the answer "
        f"{text[:_EXCERPT]!r}; ask the model for a list (e.g. 'Output a JSON list') or use "
        "a callback that fits the answer",
        raw=text,
    )


# The names `fanflow.callbacks` has exported since the first release.
parse_json = parse_lenient
parse_json_list = parse_list
