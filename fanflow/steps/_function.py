"""`@fanflow.step`: a plain Python function as a pipeline step, with no LLM.

```python
@fanflow.step
def keep_long(question: str) -> dict | None:
    return {"question": question} if len(question) > 20 else None

@fanflow.step(group="all")
async def dedupe(rows: list[dict]) -> list[dict]: ...

builder << Questions().scatter() << keep_long << dedupe << Answer()
```

Parameters bind by name as `create_workflow`'s do. The return value decides the next
step's inputs (see `fanflow.callbacks.FunctionOutput`): a dict is one (its keys bind
downstream, and it is the step's column in the rows), a list one per item, None none
(the task ends `filtered`). With `group="all"` (every input of the step) or `"root"`
(those of one input row) the function is called once per group with its single required
parameter holding the list of the group's rows. A sync function runs in a worker thread
unless `inline=True`. Results are cached like LLM answers, keyed by the function's
qualified name and `version=` (default: a hash of its source) and its inputs.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Sequence
from typing import Any, Literal, overload

from typing_extensions import Self

from fanflow._exceptions import ConfigurationError
from fanflow.callbacks import Callback, FunctionOutput
from fanflow.steps._template import StepTemplate
from fanflow.steps._workflow import Workflow

__all__ = ["FunctionStep", "step"]

Group = Literal["all", "root"]


class FunctionStep(StepTemplate):
    """A step made of a function (`@fanflow.step`); calling it calls the function."""

    def __init__(
        self,
        function: Callable[..., Any],
        *,
        name: str | None = None,
        group: Group | None = None,
        inline: bool = False,
        version: str | None = None,
    ) -> None:
        if not callable(function):
            raise ConfigurationError(
                f"@fanflow.step decorates a function, not {type(function).__name__}"
            )
        _check_group(group)
        label = getattr(function, "__name__", type(function).__name__)
        super().__init__(name or label)
        self.function, self.group, self.inline = function, group, inline
        self.version = version
        self.is_async = inspect.iscoroutinefunction(function)
        self.identity = f"{_qualname(function)}:{version or _source_hash(function)}"
        self.flow = FunctionOutput(self.name)
        self.rows_param = _rows_param(self) if group else None
        self.function_name = label
        self.__wrapped__ = function

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.function(*args, **kwargs)

    def create_workflow(self, **inputs: Any) -> Workflow:
        raise ConfigurationError(f"step {self.name!r} is a function step: it has no workflow")

    def then(self, callback: Callback) -> Self:
        raise ConfigurationError(
            f"step {self.name!r} is a function step: its return value decides the next "
            "step's inputs (a dict: one, a list: one per item, None: none), so it takes no "
            "scatter/broadcast/aggregate/then; use group= on a function step for a barrier"
        )

    def set_models(self, models: Sequence[str]) -> Self:
        raise ConfigurationError(f"step {self.name!r} is a function step: it uses no model")

    def set_workflow_params(self, *args: Any, **kwargs: Any) -> Self:
        raise ConfigurationError(f"step {self.name!r} is a function step: it has no workflow")

    def set_generation(self, *args: Any, **kwargs: Any) -> Self:
        raise ConfigurationError(f"step {self.name!r} is a function step: it sends no request")

    def set_tools(self, *args: Any, **kwargs: Any) -> Self:
        raise ConfigurationError(f"step {self.name!r} is a function step: it calls no model")

    def parameters(self) -> dict[str, bool]:
        """The function's parameter names, each mapped to whether it is required."""
        params = inspect.signature(self.function).parameters.values()
        positional = [p.name for p in params if p.kind is inspect.Parameter.POSITIONAL_ONLY]
        if positional:
            raise ConfigurationError(
                f"step {self.name!r}: the function has positional-only parameters "
                f"{positional}, but a step's inputs are passed by name; remove the '/'"
            )
        variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        return {
            p.name: p.default is inspect.Parameter.empty for p in params if p.kind not in variadic
        }

    def accepts_any(self) -> bool:
        params = inspect.signature(self.function).parameters.values()
        return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)

    def __repr__(self) -> str:
        group = f", group={self.group!r}" if self.group else ""
        return f"FunctionStep(name={self.name!r}, function={self.identity!r}{group})"


@overload
def step(function: Callable[..., Any], /) -> FunctionStep: ...


@overload
def step(
    *,
    name: str | None = None,
    group: Group | None = None,
    inline: bool = False,
    version: str | None = None,
) -> Callable[[Callable[..., Any]], FunctionStep]: ...


def step(
    function: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    group: Group | None = None,
    inline: bool = False,
    version: str | None = None,
) -> FunctionStep | Callable[[Callable[..., Any]], FunctionStep]:
    """Make a function a pipeline step: `@step` or `@step(name=, group=, inline=, version=)`.

    `name`: the step's column and binding name (default: the function's name). `group`:
    "all" or "root" makes it a barrier called once per group with the list of its rows.
    `inline`: call a sync function on the event loop instead of a worker thread (for
    quick functions). `version`: what identifies this function in the cache (default: a
    hash of its source, so editing it runs it again)."""
    _check_group(group)
    if function is None:
        return lambda f: FunctionStep(f, name=name, group=group, inline=inline, version=version)
    return FunctionStep(function, name=name, group=group, inline=inline, version=version)


def _check_group(group: object) -> None:
    if group not in (None, "all", "root"):
        raise ConfigurationError(
            f"@fanflow.step(group=...) takes 'all' (the whole step) or 'root' (the rows of "
            f"one input row), not {group!r}"
        )


def _rows_param(step: FunctionStep) -> str:
    """A group function's one required parameter, which gets the list of rows."""
    required = [name for name, needed in step.parameters().items() if needed]
    if len(required) != 1:
        raise ConfigurationError(
            f"step {step.name!r}: a group= function takes one parameter without a default, "
            f"the list of its group's rows (e.g. `rows: list[dict]`); it has {required}"
        )
    return required[0]


def _qualname(function: Callable[..., Any]) -> str:
    module = getattr(function, "__module__", None) or ""
    return f"{module}.{getattr(function, '__qualname__', type(function).__qualname__)}"


def _source_hash(function: Callable[..., Any]) -> str:
    """A hash of the function's source; of its bytecode where the source is not at hand."""
    try:
        content = inspect.getsource(function).encode()
    except (OSError, TypeError):
        code = getattr(function, "__code__", None)
        content = b"" if code is None else code.co_code + repr(code.co_consts).encode()
    return hashlib.sha256(content).hexdigest()[:16]
