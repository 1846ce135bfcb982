"""What `fanflow run` changes in a pipeline file's document before it is made.

- `base_url`: the network becomes one `OpenAIAdapter` at that URL (the file's model and
  `api_key_env` are kept when its network was an `OpenAIAdapter`).
- `model`: every step uses this model (each step's `models` is replaced), and so does
  the network by default.
- `sets`, each `STEP.PARAM=VALUE` or `config.FIELD=VALUE`: `PARAM` is `max_tokens`,
  `max_steps` or `max_time` (the step's workflow params), `models`, a `Prompt`'s
  `template`, `system` or `schema`, else a constructor argument of a class step (its
  `params`). `VALUE` is read as JSON when it is JSON (`3`, `true`, `["a","b"]`,
  `"text"`), else as text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from fanflow.engine.pipeline._file_format import FileError, expect_mapping

__all__ = ["apply_overrides"]

WORKFLOW_PARAMS = ("max_tokens", "max_steps", "max_time")
PROMPT_PARAMS = ("template", "system", "schema")


def apply_overrides(
    document: Any,
    error: FileError,
    *,
    base_url: str | None = None,
    model: str | None = None,
    sets: Sequence[str] = (),
    config: dict[str, Any] | None = None,
) -> None:
    """Change `document` in place as the command line asks (see the module docstring)."""
    top = expect_mapping(document, error, [])
    if not isinstance(top, dict):
        return
    if base_url is not None:
        top["network"] = _openai_at(base_url, top.get("network"))
    if model is not None:
        _use_model(top, model)
    for assignment in sets:
        _set(top, assignment, error)
    if config:
        given = top.get("config")
        top["config"] = {**(given if isinstance(given, dict) else {}), **config}


def _openai_at(base_url: str, network: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"adapter": "OpenAIAdapter", "base_url": base_url}
    if isinstance(network, dict) and network.get("adapter") == "OpenAIAdapter":
        for key in ("model", "api_key_env", "headers"):
            if key in network:
                entry[key] = network[key]
    return entry


def _use_model(top: dict[str, Any], model: str) -> None:
    network = top.get("network")
    if isinstance(network, dict) and network.get("adapter") in ("OpenAIAdapter", "MockAdapter"):
        network["model"] = model
    for step in top.get("steps") or []:
        if isinstance(step, dict):
            step["models"] = [model]


def _set(top: dict[str, Any], assignment: str, error: FileError) -> None:
    target, equals, text = assignment.partition("=")
    owner, dot, param = target.partition(".")
    if not equals or not dot or not owner or not param:
        raise error(
            ["--set"], f"expected STEP.PARAM=VALUE or config.FIELD=VALUE, got {assignment!r}"
        )
    value = _value(text)
    if owner == "config":
        config = top.get("config")
        top["config"] = {**(config if isinstance(config, dict) else {}), param: value}
        return
    step = _step_named(top, owner, error)
    if param in WORKFLOW_PARAMS:
        step.setdefault("workflow_params", {})[param] = value
    elif param == "models":
        step["models"] = value if isinstance(value, list) else [value]
    elif "prompt" in step:
        if param not in PROMPT_PARAMS:
            raise error(
                ["--set"],
                f"step {owner!r} is a prompt: it has {[*PROMPT_PARAMS, *WORKFLOW_PARAMS]} "
                f"and models, not {param!r}",
            )
        step["prompt"][param] = value
    else:
        step.setdefault("params", {})[param] = value


def _step_named(top: dict[str, Any], name: str, error: FileError) -> dict[str, Any]:
    steps = [s for s in top.get("steps") or [] if isinstance(s, dict)]
    for step in steps:
        if step.get("name") == name:
            return step
    names = [step.get("name") for step in steps]
    raise error(["--set"], f"no step is named {name!r} (steps: {names}; or config.FIELD)")


def _value(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
