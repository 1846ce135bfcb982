"""`StepTemplate`: what users subclass to turn one task's inputs into a workflow.

```python
class Execute(StepTemplate):
    def create_workflow(self, instruction: str) -> Workflow: ...

builder << Variations().scatter() << Execute()
```

`create_workflow` is called once per task with that task's real inputs. The fluent methods
say how this step's results become the next step's inputs, each storing the callback it
names (`self.flow`): `.scatter(key)` (`Scatter`), `.broadcast(n)` (`Broadcast`),
`.aggregate(key)` (`Aggregate`), `.custom()` (this template's own `callback(step)`),
`.then(callback)` (any `fanflow.callbacks.Callback`); without one, each result becomes one
input of the next step (`Each`). Per-step settings: `.set_models`, `.set_workflow_params`,
`.set_generation` (sampling parameters, `_generation`) and `.set_tools` (Python functions
the model may call, `_tools`). Settings made here are checked here, so a bad value is a
`ConfigurationError` where it is written, not a failure of every task later.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any, Literal

from pydantic import ValidationError
from typing_extensions import Self

from fanflow._exceptions import ConfigurationError
from fanflow._values import StepOutput, TaskInput
from fanflow.callbacks import Aggregate, Broadcast, Callback, Each, Scatter, TemplateCallback
from fanflow.steps._generation import check_generation
from fanflow.steps._parts import LIMIT_MAX, Config
from fanflow.steps._tools import tool_definition, validating
from fanflow.steps._workflow import Workflow

__all__ = ["StepTemplate"]


class StepTemplate:
    """Subclass and implement `create_workflow(self, **inputs) -> Workflow`.

    `name` (default: the class name in snake_case) names this step's column in the rows.
    Other keyword arguments are kept, as in Dria, as attributes of `self.params` (a
    `SimpleNamespace`) for `create_workflow` and `callback` to read: `Samples(n=3)` gives
    `self.params.n == 3`.
    """

    def __init__(self, name: str | None = None, **params: Any) -> None:
        self.name = name or _snake_case(type(self).__name__)
        self.params = SimpleNamespace(**params)
        self.flow: Callback = Each()
        self.models: list[str] | None = None
        self.workflow_params: dict[str, Any] = {}
        self.generation: dict[str, Any] = {}
        self.tools: dict[str, Callable[..., Any]] = {}
        self.tool_definitions: tuple[dict[str, Any], ...] = ()

    def create_workflow(self, **inputs: Any) -> Workflow:
        raise NotImplementedError(
            f"{type(self).__name__} must implement create_workflow(self, ...) -> Workflow"
        )

    def callback(self, step: StepOutput) -> TaskInput | list[TaskInput]:
        """Used by `.custom()`: turn all of this step's results into next-step inputs, as in
        Dria: `step.output[i]` is an ok result and `step.input[i]` its task's input."""
        raise NotImplementedError(
            f"{type(self).__name__}.custom() needs a callback(self, step) method that returns "
            "TaskInput or a list of them"
        )

    def scatter(self, key: str | None = None) -> Self:
        """Each JSON-list result becomes one next-step task per element (bound to `key`)."""
        return self.then(Scatter(key))

    def broadcast(self, n: int) -> Self:
        """Each result becomes `n` next-step tasks (e.g. n samples, or one per model)."""
        try:
            return self.then(Broadcast(n))
        except ConfigurationError as exc:
            raise exc.with_context(f"step {self.name!r}: ") from None

    def aggregate(self, key: str | None = None, by: Literal["root", "all"] = "root") -> Self:
        """The results of one input row (or of the whole step) become one next-step task."""
        return self.then(Aggregate(key, by=by))

    def then(self, callback: Callback) -> Self:
        """Results flow on through `callback`, a `fanflow.callbacks.Callback` (e.g. your own
        subclass implementing `map(result)` or `reduce(results)`)."""
        if not isinstance(callback, Callback):
            raise ConfigurationError(
                f"step {self.name!r}: then() takes a fanflow.callbacks.Callback, "
                f"not {type(callback).__name__}"
            )
        self.flow = callback
        return self

    def custom(self) -> Self:
        """This template's own `callback(step)` decides the next step's inputs."""
        if type(self).callback is StepTemplate.callback:
            raise ConfigurationError(
                f"step {self.name!r}: custom() needs {type(self).__name__} to define "
                "callback(self, step)"
            )
        return self.then(TemplateCallback(self.name, self.callback))

    def set_models(self, models: Sequence[str]) -> Self:
        """Models for this step's tasks, assigned round-robin by each task's sibling index."""
        if isinstance(models, str):  # a str is a Sequence: it would be split into letters
            raise ConfigurationError(
                f"step {self.name!r}: set_models takes a list of model names, not the string "
                f"{models!r}; write set_models([{models!r}])"
            )
        if not models:
            raise ConfigurationError(f"step {self.name!r}: set_models needs at least one model")
        bad = [model for model in models if not isinstance(model, str) or not model]
        if bad:
            raise ConfigurationError(
                f"step {self.name!r}: set_models needs non-empty model names, got {bad!r} "
                f"in {list(models)!r}"
            )
        self.models = list(models)
        return self

    def set_workflow_params(
        self,
        max_tokens: int | None = None,
        max_steps: int | None = None,
        max_time: float | None = None,
    ) -> Self:
        """Override limits of every workflow this step creates (checked here); a later
        call changes only the limits it names."""
        given = {"max_tokens": max_tokens, "max_steps": max_steps, "max_time": max_time}
        params = {k: v for k, v in given.items() if v is not None}
        try:
            Config.model_validate(params)
        except ValidationError as exc:
            problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
            raise ConfigurationError(
                f"step {self.name!r}: set_workflow_params got invalid values ({problems}); "
                "max_tokens and max_steps must be whole numbers from 1 to "
                f"{LIMIT_MAX}, max_time a number of seconds above 0 and up to {LIMIT_MAX}"
            ) from None
        self.workflow_params = {**self.workflow_params, **params}
        return self

    def set_generation(
        self,
        *,
        temperature: float | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        stop: str | list[str] | None = None,
        max_tokens: int | None = None,
        presence_penalty: float | None = None,
        frequency_penalty: float | None = None,
        **extra: Any,
    ) -> Self:
        """Sampling parameters sent with every request of this step's workflows, and part of
        their cache keys (checked here). `extra` keywords go into the request body as they
        are (`repetition_penalty=1.1`, `logit_bias={...}`). `max_tokens` is the workflows'
        limit, the same setting as `set_workflow_params(max_tokens=...)`. A later call
        changes only the parameters it names. With `seed`, each task sends `seed` plus its
        index among its siblings, so `broadcast(n)` samples differ (see
        `steps/_generation.py`)."""
        params = {
            "temperature": temperature,
            "top_p": top_p,
            "seed": seed,
            "stop": stop,
            "presence_penalty": presence_penalty,
            "frequency_penalty": frequency_penalty,
            **extra,
        }
        generation = check_generation(self.name, params)
        if max_tokens is not None:
            try:
                self.set_workflow_params(max_tokens=max_tokens)
            except ConfigurationError:
                raise ConfigurationError(
                    f"step {self.name!r}: set_generation got invalid values (max_tokens must "
                    f"be a whole number from 1 to {LIMIT_MAX}, got {max_tokens!r})"
                ) from None
        self.generation = {**self.generation, **generation}
        return self

    def set_tools(self, tools: Sequence[Callable[..., Any]]) -> Self:
        """Python functions (sync or async) the model may call in this step's
        function-calling tasks; their type hints and docstrings become the tool definitions
        sent, and the model's arguments are checked against them (see `steps/_tools.py`).
        `self.tools` maps each name to its function so wrapped (`__wrapped__` is yours).
        Replaces the tools set before."""
        where = f"step {self.name!r}: set_tools"
        if isinstance(tools, str) or not isinstance(tools, Sequence):
            raise ConfigurationError(f"{where} takes a list of functions, got {tools!r}")
        functions: dict[str, Callable[..., Any]] = {}
        definitions = []
        for function in tools:
            if not callable(function):
                raise ConfigurationError(f"{where}: {function!r} is not callable")
            definition = tool_definition(where, function)
            name = definition["function"]["name"]
            if name in functions:
                raise ConfigurationError(f"{where} got two tools named {name!r}; rename one")
            functions[name] = validating(function)
            definitions.append(definition)
        self.tools, self.tool_definitions = functions, tuple(definitions)
        return self

    def parameters(self) -> dict[str, bool]:
        """`create_workflow`'s parameter names, each mapped to whether it is required;
        `ConfigurationError` for a positional-only one (inputs are bound by name)."""
        signature = inspect.signature(self.create_workflow)
        positional = [
            p.name
            for p in signature.parameters.values()
            if p.kind is inspect.Parameter.POSITIONAL_ONLY
        ]
        if positional:
            raise ConfigurationError(
                f"step {self.name!r}: create_workflow has positional-only parameters "
                f"{positional}, but a step's inputs are passed by name; remove the '/'"
            )
        return {
            p.name: p.default is inspect.Parameter.empty
            for p in signature.parameters.values()
            if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        }

    def accepts_any(self) -> bool:
        """Whether `create_workflow` takes `**kwargs` (and so every available field)."""
        signature = inspect.signature(self.create_workflow)
        return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, flow={self.flow!r})"


def _snake_case(name: str) -> str:
    """`MyStep` -> `my_step`; an acronym stays one word: `GenerateQA` -> `generate_qa`."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()
