"""Python functions as tools a model can call (`StepTemplate.set_tools`).

A function becomes an OpenAI function definition: its name; the first paragraph of its
docstring as the description; its parameters as a JSON schema made by pydantic from the
type hints (a parameter without a hint takes any JSON value; one without a default is
required). Parameter descriptions come from a Google-style ``Args:`` section of the
docstring, where there is one. The function is later called with the model's arguments
by keyword (see `engine/workflow/_operators.py`), through pydantic's `validate_call`, so
it gets the types its hints ask for ("3" becomes 3 for an `int`) and arguments that do
not fit fail the call with a `ValidationError` saying which.

A workflow's own `config.custom_tools` may hold OpenAI definitions, bare
`{"name", "description", "parameters"}` ones, or Dria's custom tools (with a `mode`).
`offered_tool` gives what the model is offered for each, as Dria offers it: a Dria
tool's name in snake case (lowercased, spaces as `_`); a `custom` tool's `parameters`;
an `http_request` tool's `body` keys as required string parameters (its URL, method and
headers are fanflow's business, not the model's).
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from typing import Any

from pydantic import Field, PydanticUserError, create_model, validate_call

from fanflow._exceptions import ConfigurationError
from fanflow.steps._parts import Config
from fanflow.steps._workflow import Workflow

__all__ = [
    "is_http_tool",
    "offered_name",
    "offered_tool",
    "tool_definition",
    "validating",
    "with_tools",
    "with_tools_config",
]

HTTP_REQUEST = "http_request"
"""The `mode` of a Dria custom tool that fanflow sends as an HTTP request itself."""

_ARGS_HEADER = re.compile(r"^(Args|Arguments|Parameters):\s*$")
_ARG_LINE = re.compile(r"^(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_BY_NAME_ONLY = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.VAR_POSITIONAL)


def tool_definition(where: str, function: Callable[..., Any]) -> dict[str, Any]:
    """The OpenAI tool definition of `function`; `ConfigurationError` led by `where`."""
    name = getattr(function, "__name__", None)
    if not isinstance(name, str) or not name.isidentifier():
        raise ConfigurationError(
            f"{where}: a tool needs a name the model can call, and {function!r} has none "
            "(a lambda or a partial); define it with def"
        )
    try:
        signature = inspect.signature(function)
        hints = typing.get_type_hints(function)
    except (TypeError, ValueError, NameError) as exc:
        raise ConfigurationError(
            f"{where}: cannot read the signature and type hints of tool {name!r} ({exc})"
        ) from exc
    doc = inspect.getdoc(function) or ""
    definition: dict[str, Any] = {"name": name}
    description = _first_paragraph(doc)
    if description:
        definition["description"] = description
    definition["parameters"] = _parameters(where, name, signature, hints, _argument_docs(doc))
    return {"type": "function", "function": definition}


def validating(function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` checking and converting its arguments by its type hints (async stays
    async; `__wrapped__` is the function itself), or `function` where pydantic cannot."""
    try:
        return validate_call(function)
    except (PydanticUserError, TypeError):
        return function


def _parameters(
    where: str,
    name: str,
    signature: inspect.Signature,
    hints: dict[str, Any],
    docs: dict[str, str],
) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for parameter in signature.parameters.values():
        if parameter.kind in _BY_NAME_ONLY:
            raise ConfigurationError(
                f"{where}: tool {name!r} has the parameter {parameter.name!r}, which cannot be "
                "passed by name; the model's arguments are passed by name"
            )
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            continue
        default = ... if parameter.default is inspect.Parameter.empty else parameter.default
        annotation = hints.get(parameter.name, Any)
        fields[parameter.name] = (annotation, Field(default, description=docs.get(parameter.name)))
    try:
        schema: dict[str, Any] = create_model(f"{name}_arguments", **fields).model_json_schema()
    except (PydanticUserError, TypeError, ValueError, NameError) as exc:
        raise ConfigurationError(
            f"{where}: the parameters of tool {name!r} cannot be described as a JSON schema "
            f"({exc}); use JSON-like types (str, int, float, bool, list, dict, pydantic models) "
            "and names that do not start with '_'"
        ) from exc
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    schema.setdefault("required", [])
    return schema


def _first_paragraph(doc: str) -> str:
    paragraph = doc.split("\n\n", 1)[0]
    return " ".join(line.strip() for line in paragraph.splitlines() if line.strip())


def _argument_docs(doc: str) -> dict[str, str]:
    """Descriptions from a Google-style ``Args:`` section: ``name: text`` (or
    ``name (type): text``), continued on more indented lines."""
    docs: dict[str, str] = {}
    lines = doc.splitlines()
    start = next((i + 1 for i, line in enumerate(lines) if _ARGS_HEADER.match(line)), None)
    if start is None:
        return docs
    current: str | None = None
    for line in lines[start:]:
        if not line.strip():
            continue
        if not line.startswith((" ", "\t")):  # the next section
            break
        match = _ARG_LINE.match(line.strip())
        if match and len(line) - len(line.lstrip()) <= _indent(lines[start:]):
            current = match[1].lstrip("*")
            docs[current] = match[2].strip()
        elif current is not None:
            docs[current] = f"{docs[current]} {line.strip()}".strip()
    return docs


def _indent(lines: list[str]) -> int:
    """The indentation of the section's first entry."""
    for line in lines:
        if line.strip():
            return len(line) - len(line.lstrip())
    return 0


def offered_tool(definition: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI definition the model is offered for one of `config.custom_tools`."""
    if definition.get("type") == "function":
        return definition
    mode = definition.get("mode")
    if mode is None:
        return {"type": "function", "function": definition}
    function: dict[str, Any] = {"name": offered_name(definition)}
    if "description" in definition:
        function["description"] = definition["description"]
    if mode == HTTP_REQUEST:
        keys = list(definition.get("body") or {})
        properties = {k: {"type": "string", "description": f"The value for {k}"} for k in keys}
        function["parameters"] = {"type": "object", "properties": properties, "required": keys}
    else:
        function["parameters"] = definition.get("parameters") or {"type": "object"}
    return {"type": "function", "function": function}


def is_http_tool(definition: dict[str, Any]) -> bool:
    """Whether a custom tool is a Dria `http_request` tool, which fanflow sends itself."""
    return definition.get("mode") == HTTP_REQUEST


def offered_name(definition: dict[str, Any]) -> str:
    """The name the model calls a tool by (a Dria tool's in snake case, as Dria sends it)."""
    if definition.get("type") == "function":
        return str(definition.get("function", {}).get("name", ""))
    name = str(definition.get("name", ""))
    return name.lower().replace(" ", "_") if "mode" in definition else name


def with_tools(workflow: Workflow, definitions: tuple[dict[str, Any], ...]) -> Workflow:
    """`workflow` offering also a step's tools; one it defines itself keeps its definition
    (the step's function then runs it)."""
    config = with_tools_config(workflow.config, definitions)
    if config is workflow.config:
        return workflow
    return workflow.model_copy(update={"config": config})


def with_tools_config(config: Config, definitions: tuple[dict[str, Any], ...]) -> Config:
    """`config` offering also these tools (`with_tools`); `config` itself if it offers
    them all already."""
    own = config.custom_tools or []
    known = {offered_name(definition) for definition in own}
    added = [d for d in definitions if d["function"]["name"] not in known]
    if not added:
        return config
    return config.model_copy(update={"custom_tools": [*own, *added]})
