"""One prompt as a step, still declarative: `Prompt` and `Workflow.from_prompt`.

```python
vary = Prompt("variations", "Rewrite 5 variations of: {{instruction}}. Output a JSON list.")
builder << vary.scatter() << Prompt("execute", "{{instruction}}")
```

A `Prompt`'s `{{variables}}` are its parameters, so `build()` still refuses one that no
input column or earlier step can fill. Each task's workflow is the one-task,
Dria-compatible workflow of `Workflow.from_prompt`: memory holds the inputs, the task
reads them, writes its answer to `output`, and returns it. With `schema=` (a pydantic model
or a JSON schema) the answer is structured output: sent as the request's JSON schema,
validated, and repaired once by asking again (see `engine/workflow/_structured.py`).

Values that are not text are written so that a prompt reads them naturally: numbers as
numbers, `true`/`false`, a flat list as one `- item` per line, anything else (a dict, a
nested list, a pydantic model) as indented JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from pydantic import BaseModel

from fanflow.steps._builder import SchemaLike, WorkflowBuilder
from fanflow.steps._fields_json import share_parts
from fanflow.steps._memory_ops import Write
from fanflow.steps._template import StepTemplate
from fanflow.steps._validation import template_variables
from fanflow.steps._workflow import Workflow, with_memory

__all__ = ["Prompt", "prompt_text", "prompt_workflow"]

PROMPT_TASK = "prompt"
OUTPUT_KEY = "output"
_SCALARS = (str, int, float, bool)


class Prompt(StepTemplate):
    """A step that is one prompt: `Prompt(name, template, schema=None, system=None)`.

    `template` holds `{{variables}}`, bound by name like any step's parameters; `schema`
    asks for structured output; `system` is an optional system prompt (it may hold
    variables too); `generation` is a dict of `set_generation`'s keyword arguments
    (`generation={"temperature": 0.9, "seed": 7}`).
    """

    def __init__(
        self,
        name: str,
        template: str,
        schema: SchemaLike | None = None,
        *,
        system: str | None = None,
        generation: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(name)
        if generation:
            self.set_generation(**generation)
        self.template, self.schema, self.system = template, schema, system
        # A pydantic model's JSON schema is worked out once here, not once per task.
        self._json_schema = _json_schema(schema)
        variables = template_variables(template)
        if system:
            variables = tuple(dict.fromkeys((*template_variables(system), *variables)))
        self.variables = variables
        self._keys = sorted(variables)
        self._skeleton: Workflow | None = None

    def create_workflow(self, **inputs: Any) -> Workflow:
        """`Workflow.from_prompt`'s workflow, made once and then refilled per task (the
        tasks, edges and checks are the same for every task; only memory changes). The
        workflows share their tasks, edges, return value and config, so content keys
        write those once: change a workflow by a copy (`model_copy(update=...)`), never
        in place."""
        try:
            memory = {key: prompt_text(inputs[key]) for key in self._keys}
        except KeyError:  # called by hand without every variable: say which, as usual
            return self._workflow(inputs)
        skeleton = self._skeleton
        if skeleton is None:
            skeleton = self._skeleton = self._workflow(memory)
            share_parts(skeleton)  # nothing changes them: each task's copy holds them
        return with_memory(skeleton, memory)

    def _workflow(self, inputs: Mapping[str, Any]) -> Workflow:
        schema, system = self._json_schema, self.system
        return prompt_workflow(self.template, schema=schema, system=system, **inputs)

    def parameters(self) -> dict[str, bool]:
        return dict.fromkeys(self.variables, True)

    def __getstate__(self) -> dict[str, Any]:
        """Without the skeleton: a Ray worker makes its own, whose shared parts its
        process's content keys then know (see `share_parts`)."""
        return {**self.__dict__, "_skeleton": None}

    def accepts_any(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"Prompt({self.name!r}, {self.template!r}, flow={self.flow!r})"


def prompt_workflow(
    template: str,
    *,
    schema: SchemaLike | None = None,
    system: str | None = None,
    **inputs: Any,
) -> Workflow:
    """The one-task workflow that sends `template` with `inputs` filled in (also
    `Workflow.from_prompt`); its result is the answer."""
    memory = {key: prompt_text(value) for key, value in inputs.items()}
    builder = WorkflowBuilder(memory)
    history = [{"role": "system", "content": system}] if system else None
    builder.generative_step(
        id=PROMPT_TASK,
        prompt=template,
        outputs=[Write.new(OUTPUT_KEY)],
        schema=schema,
        msg_history=history,
    )
    builder.set_return_value(OUTPUT_KEY)
    return builder.build()


def prompt_text(value: Any) -> str:
    """`value` as a prompt reads it (see the module docstring)."""
    if type(value) is str:
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    if isinstance(value, (list, tuple)) and all(isinstance(v, _SCALARS) for v in value):
        return "\n".join(f"- {prompt_text(v)}" for v in value)
    if isinstance(value, BaseModel):
        return value.model_dump_json(indent=2)
    if value is None:
        return ""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2, default=_plain).decode()


def _json_schema(schema: SchemaLike | None) -> Mapping[str, Any] | None:
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema.model_json_schema()
    return schema


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


# `Workflow` sits below the builder, so the builder's one-prompt workflow is attached here.
Workflow.from_prompt = staticmethod(prompt_workflow)
