"""Small HTML helpers shared by the report and the notebook summary: every text that can
come from a user (step names, inputs, errors, config) goes through `escape` here."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

__all__ = ["DASH", "cut", "escape", "money", "number", "table", "value_text"]

DASH = "\u2013"  # an en dash, shown where a figure is unknown (no timings recorded)
CUT_CHARS = 200


def escape(text: object) -> str:
    return html.escape(str(text), quote=True)


def number(value: int) -> str:
    return f"{value:,}"


def money(value: float) -> str:
    return f"${value:.4f}"


def cut(text: str, limit: int = CUT_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def value_text(value: Any) -> str:
    """A value as short text: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    try:
        return orjson.dumps(value, default=str).decode()
    except TypeError:
        return repr(value)


def table(
    headers: Iterable[str],
    rows: Iterable[tuple[Mapping[str, str], Iterable[str]]],
    css_class: str,
) -> str:
    """A table; each row is (its attributes, its cells), cells already escaped HTML. A row
    with fewer cells than headers has its last cell span the rest."""
    names = list(headers)
    head = "".join(f"<th>{escape(header)}</th>" for header in names)
    body = []
    for attributes, cells in rows:
        attrs = "".join(f' {key}="{escape(value)}"' for key, value in attributes.items())
        shown = [f"<td>{cell}</td>" for cell in cells]
        if 0 < len(shown) < len(names):
            shown[-1] = shown[-1].replace("<td>", f'<td colspan="{len(names) - len(shown) + 1}">')
        body.append(f"<tr{attrs}>{''.join(shown)}</tr>")
    return (
        f'<table class="{css_class}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )
