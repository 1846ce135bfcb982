"""`fast_init`: a cheaper `__init__` for a frozen slotted dataclass (bench/README.md).

A frozen dataclass's generated `__init__` sets each field with `object.__setattr__`,
which looks the field up on the class every time. The classes built once or more per
LLM call (requests, answers, results) set their slots through the slot descriptors
instead. The signature, the defaults, `default_factory`, and so `==`, `repr`,
`dataclasses.replace` and pickling are the dataclass's own; only the assignment differs.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

__all__ = ["fast_init"]

_T = TypeVar("_T")


class _Factory:
    """The default of a field with a `default_factory`, shown as dataclasses shows it."""

    def __repr__(self) -> str:
        return "<factory>"


def fast_init(cls: type[_T]) -> type[_T]:
    """Replace the `__init__` of `cls`, a `@dataclass(frozen=True, slots=True)`."""
    params = getattr(cls, "__dataclass_params__", None)
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"fast_init: {cls.__name__} is not a frozen slotted dataclass")
    if hasattr(cls, "__post_init__") or any(not f.init or f.kw_only for f in fields):
        raise TypeError(f"fast_init: {cls.__name__} has a post-init or special fields")
    namespace: dict[str, Any] = {"_FACTORY": _Factory()}
    arguments, lines = [], []
    for f in fields:
        name = f.name
        namespace[f"_set_{name}"] = cls.__dict__[name].__set__
        if f.default is not dataclasses.MISSING:
            namespace[f"_default_{name}"] = f.default
            arguments.append(f"{name}=_default_{name}")
        elif f.default_factory is not dataclasses.MISSING:
            namespace[f"_make_{name}"] = f.default_factory
            arguments.append(f"{name}=_FACTORY")
            lines.append(f"    if {name} is _FACTORY: {name} = _make_{name}()")
        else:
            arguments.append(name)
        lines.append(f"    _set_{name}(self, {name})")
    source = f"def __init__(self, {', '.join(arguments)}):\n" + "\n".join(lines)
    exec(source, namespace)  # compiled once per class, as `dataclasses` does
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__
    init.__annotations__ = cls.__init__.__annotations__
    cls.__init__ = init  # type: ignore[method-assign]
    return cls
