"""What the ready templates share: a one-prompt step that keeps its constructor arguments.

A template here is a `Prompt` whose text fanflow wrote, whose constructor arguments are
kept in `self.params` (so `Pipeline.dump` writes them and a pipeline file makes the same
step again), and whose inputs are only the ones it names, so a `.scatter()` before it
binds to the right one.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from fanflow._exceptions import ConfigurationError
from fanflow.steps._builder import SchemaLike
from fanflow.steps._prompt import Prompt
from fanflow.steps._template import _snake_case

__all__ = ["PromptTemplate", "check_choice", "check_count", "string_list_schema"]


class PromptTemplate(Prompt):
    """A `Prompt` with fanflow's own text; `params` are the constructor's arguments."""

    def __init__(
        self,
        name: str | None,
        template: str,
        schema: SchemaLike | None = None,
        *,
        system: str | None = None,
        **params: Any,
    ) -> None:
        super().__init__(name or _snake_case(type(self).__name__), template, schema, system=system)
        self.params = SimpleNamespace(**params)

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in vars(self.params).items())
        return f"{type(self).__name__}(name={self.name!r}, {settings}, flow={self.flow!r})"


def check_count(template: str, name: str, value: object) -> int:
    """`value` as a count of at least 1, else a `ConfigurationError` naming the template."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigurationError(
            f"{template}({name}=...) needs a whole number of at least 1, got {value!r}"
        )
    return value


def check_choice(template: str, name: str, value: object, choices: tuple[str, ...]) -> str:
    """`value` if it is one of `choices`, else a `ConfigurationError` listing them."""
    if value not in choices:
        raise ConfigurationError(
            f"{template}({name}=...) takes one of {list(choices)}, got {value!r}"
        )
    assert isinstance(value, str)
    return value


def string_list_schema(title: str, n: int) -> dict[str, Any]:
    """A JSON array of 1 to `n` non-empty strings: a list `.scatter()` can split."""
    return {
        "title": title,
        "type": "array",
        "items": {"type": "string", "minLength": 1},
        "minItems": 1,
        "maxItems": n,
    }
