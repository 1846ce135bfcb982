"""Pipelines as files: the format `Pipeline.dump` writes and `load_pipeline` reads.

A pipeline file is YAML (`.yaml`/`.yml`) or JSON (`.json`), one mapping:

```yaml
fanflow: 1                       # format version
steps:                           # in order; names are unique
  - name: variations
    prompt:                      # a Prompt, in full
      template: "Rewrite 5 variations of: {{instruction}}. Output a JSON list."
      schema: mypkg.models:Variations   # a pydantic model by import path, or a JSON schema
      system: You are terse.            # optional
    callback: {type: scatter, key: null}
  - name: answer
    class: mypkg.steps:Answer    # a StepTemplate subclass by import path ("module:qualname")
    params: {n: 3}               # its constructor arguments (`self.params`), besides name
    models: [llama, qwen]        # set_models
    workflow_params: {max_tokens: 512}   # set_workflow_params
edges:                           # upstream -> downstream, by step name
  - [variations, answer]
inputs:                          # rows inline, or a file path / glob (relative to this file)
  - rows: [{instruction: Write a haiku}]
  - path: data/more.jsonl        # input options: columns, shuffle, skip, limit
    shuffle: {seed: 0, buffer: 1000}
    limit: 100
  - path: hf://datasets/owner/name   # a Hub dataset; other keys go to load_dataset
    split: train
  - mix: {sources: [{path: a.jsonl, weight: 0.7}, {path: b.jsonl, weight: 0.3}], seed: 0}
config: {concurrency: 64, store: null, ...}   # every PipelineConfig field
network:                         # never a key: see below
  adapter: OpenAIAdapter
  base_url: http://127.0.0.1:8000/v1
  model: my-model
  api_key_env: AZURE_KEY         # optional; default FANFLOW_API_KEY, then OPENAI_API_KEY
```

- `inputs` entries in full: `_file_inputs`.
- `callback` (absent: each result is one next input): `{type: scatter, key}`,
  `{type: broadcast, n, key}`, `{type: aggregate, key, by}`, `{type: custom}` (the
  step's own `callback(step)`), or `{class: module:Name, args: {...}}` for a
  `fanflow.callbacks.Callback` subclass, made as `Name(**args)`.
- A constructor argument or callback argument that is a class (a pydantic model, say) is
  written `{$class: module:Name}`; every other value is plain YAML/JSON data.
- `network.adapter` is one of `OpenAIAdapter` (`base_url`, `model`, `headers` without
  secrets, `timeout`, `connect_timeout`, `max_connections`, `api_key_env`),
  `MockAdapter` (`handler: module:function` or `script: [answers]`, `latency`, `model`),
  `RateLimiter` and `RetryingAdapter` (their settings, the adapter they wrap as `wrapped`),
  and `EndpointPool` (`endpoints: [{adapter..., models, name, max_in_flight}]`,
  `failure_threshold`, `probe_after`, `failover`).
- A function step (`@fanflow.step`) is `{name, function: {ref: module:name, group,
  inline, version}}`; the ref may name the decorated step or the bare function.
- Per step, `generation: {temperature, top_p, seed, stop, ...}` (`set_generation`) and
  `tools: [module:function, ...]` (`set_tools`).
- `edges` is the graph: `[upstream, downstream]` pairs (branches and joins are several
  pairs from or to one step); absent means the chain of `steps` in order (what `<<`
  makes). The first step is the root; loading draws each edge once its upstream step is
  in (`builder.connect`).
- A step that routes its inputs (`fanflow.Route`) has `route: {pick, seed}` or `route:
  {by: module:function}`; its branches are the ends of its edges, in the file's order.

Loading imports the named modules and looks up the names in them; nothing else is run
(YAML is read with `yaml.safe_load`). A module that is not importable as it is is looked
for again with the pipeline file's directory and the working directory on `sys.path`.
Every error is a `ConfigurationError` naming the file, the key (`steps[1].callback.n`)
and, for YAML, its line; those are also its `pipeline_file`, `key` and `line` attributes.
`fanflow run` changes the document before it is made (`_file_overrides`: `--base-url`,
`--model`, `--set STEP.PARAM=VALUE`), so what it sets is checked as the file's values are.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fanflow._exceptions import ConfigurationError

__all__ = [
    "CLASS_TAG",
    "FORMAT_VERSION",
    "FileError",
    "Lines",
    "expect_keys",
    "expect_mapping",
    "import_ref",
    "key_path",
    "names_its_key",
    "resolve_ref",
]

FORMAT_VERSION = 1
CLASS_TAG = "$class"

Lines = dict[tuple[str | int, ...], int]
"""Where each key of a YAML document starts: key path -> line number (1-based)."""


class FileError:
    """Makes the `ConfigurationError`s of one pipeline file: file, key path and line."""

    def __init__(self, file: str, lines: Lines | None = None) -> None:
        self.file, self.lines = file, lines or {}

    def __call__(self, path: Sequence[str | int], problem: str) -> ConfigurationError:
        """The error, with `pipeline_file`, `key` and `line` (None if unknown) attributes."""
        where = key_path(path)
        line = self._line(tuple(path))
        at = f" (line {line})" if line is not None else ""
        return ConfigurationError(
            f"pipeline file {self.file}: {where}{at}: {problem}",
            pipeline_file=self.file,
            key=where,
            line=line,
        )

    def _line(self, path: tuple[str | int, ...]) -> int | None:
        while path:  # the nearest enclosing key that has a line
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None


def names_its_key(error: ConfigurationError) -> bool:
    """Whether `error` already says which file and key (made by a `FileError`)."""
    return getattr(error, "pipeline_file", None) is not None


def key_path(path: Sequence[str | int]) -> str:
    """`("steps", 1, "callback")` -> `steps[1].callback`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top level)"


def import_ref(value: Any, what: str) -> str:
    """`module:qualname` of a class or function, checked to import back to it."""
    module = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or "<" in qualname:
        raise ConfigurationError(
            f"{what}: {value!r} cannot be written by import path; define it at the top "
            "level of a module (not inside a function or as a lambda)"
        )
    if module == "__main__":
        module = _main_module_name(value, what)
    return f"{module}:{qualname}"


def _main_module_name(value: Any, what: str) -> str:
    """The importable name of the running script, so `fanflow run` can import it."""
    main = sys.modules["__main__"]
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name:
        return str(spec.name)
    file = getattr(main, "__file__", None)
    if file is None:
        raise ConfigurationError(
            f"{what}: {value.__qualname__} is defined in an interactive session; move it to "
            "a module file so a pipeline file can name it"
        )
    return Path(file).stem


def resolve_ref(ref: Any, search: Sequence[Path], error: FileError, path: list[Any]) -> Any:
    """The class or function named `module:qualname` (importing the module)."""
    if not isinstance(ref, str) or ref.count(":") != 1:
        raise error(path, f"expected 'module:Name' (an import path), got {ref!r}")
    module_name, qualname = ref.split(":")
    module = _import(module_name, search, error, path)
    value: Any = module
    for part in qualname.split("."):
        value = getattr(value, part, None)
        if value is None:
            raise error(path, f"module {module_name!r} has no {qualname!r}")
    return value


def _import(name: str, search: Sequence[Path], error: FileError, path: list[Any]) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not name.startswith(exc.name):
            raise error(path, f"importing {name!r} failed: {exc}") from exc
    added = [str(folder) for folder in search if str(folder) not in sys.path]
    sys.path[:0] = added
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise error(
            path,
            f"cannot import {name!r} ({exc}); put the module on PYTHONPATH or next to "
            "the pipeline file",
        ) from exc
    finally:
        for folder in added:
            sys.path.remove(folder)


def expect_mapping(value: Any, error: FileError, path: list[Any]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise error(path, f"expected a mapping of keys to values, got {_kind(value)}")
    return value


def expect_keys(
    value: Mapping[str, Any], allowed: Sequence[str], error: FileError, path: list[Any]
) -> None:
    for key in value:
        if key not in allowed:
            raise error([*path, key], f"unknown key {key!r}; expected one of {list(allowed)}")


def _kind(value: Any) -> str:
    return "nothing" if value is None else f"{type(value).__name__} {value!r}"[:120]
