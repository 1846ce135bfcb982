"""`Pipeline.dump(path)`: a pipeline as a YAML or JSON file (format: `_file_format`).

Everything is written as data or as an import path; what cannot be (a lambda, a class
made inside a function, a `datasets.Dataset` input, a value that is not plain data) is a
`ConfigurationError` naming the step and the setting, raised before anything is written.
A file that would hold a secret fanflow knows (an API key) is never written.
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Mapping, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson

from fanflow._exceptions import ConfigurationError
from fanflow._redact import redact
from fanflow.callbacks import Aggregate, Broadcast, Callback, Each, Scatter, TemplateCallback
from fanflow.engine.pipeline._file_format import CLASS_TAG, FORMAT_VERSION, import_ref
from fanflow.engine.pipeline._file_network import network_entry
from fanflow.engine.pipeline._graph import Route
from fanflow.engine.pipeline._input_hub import is_hub_path
from fanflow.engine.pipeline._input_rows import UnusableRow, usable
from fanflow.engine.pipeline._inputs import RowSource
from fanflow.steps import FunctionStep, Prompt, StepTemplate

__all__ = ["dump_pipeline", "pipeline_document", "plain"]

INLINE_ROWS = 100
"""Input lists up to this many rows are written into the file; longer ones beside it."""


def dump_pipeline(
    path: str | Path,
    steps: Sequence[StepTemplate],
    sources: Sequence[RowSource],
    config: Any,
    network: Any,
    edges: Sequence[tuple[str, str]] | None = None,
    routes: Mapping[str, Route] | None = None,
) -> Path:
    """Write the pipeline to `path` (`.yaml`, `.yml` or `.json`) and return the path.

    `edges`: (upstream, downstream) step names, `steps` in an order where every upstream
    comes before its downstream; None for the chain of `steps` in order. `routes`: the
    `Route` of each routing step, by its name (its branches are its edges' ends)."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        raise ConfigurationError(
            f"cannot dump a pipeline to {target}: the file must end in .yaml, .yml or .json"
        )
    document = pipeline_document(steps, sources, config, network, target, edges, routes)
    _refuse_secrets(document)
    text = _as_json(document) if suffix == ".json" else _as_yaml(document)
    target.write_text(text, encoding="utf-8")
    return target


def pipeline_document(
    steps: Sequence[StepTemplate],
    sources: Sequence[RowSource],
    config: Any,
    network: Any,
    target: Path,
    edges: Sequence[tuple[str, str]] | None = None,
    routes: Mapping[str, Route] | None = None,
) -> dict[str, Any]:
    """The file's content as plain data (see `_file_format` for the keys)."""
    names = [step.name for step in steps]
    links = pairwise(names) if edges is None else edges
    return {
        "fanflow": FORMAT_VERSION,
        "steps": [_step_entry(step, (routes or {}).get(step.name)) for step in steps],
        "edges": [[a, b] for a, b in links],
        "inputs": [_input_entry(i, source, target) for i, source in enumerate(sources)],
        "config": config.model_dump(mode="json"),
        "network": None if network is None else network_entry(network),
    }


def _step_entry(step: StepTemplate, route: Route | None = None) -> dict[str, Any]:
    where = f"step {step.name!r}"
    entry: dict[str, Any] = {"name": step.name}
    if isinstance(step, FunctionStep):
        entry["function"] = _function_entry(step, where)
    else:
        entry.update(_template_entry(step, where))
    if route is not None:
        entry["route"] = _route_entry(route, where)
    return entry


def _route_entry(route: Route, where: str) -> dict[str, Any]:
    """How a routing step chooses among its branches (which are its edges' ends)."""
    if route.by is not None:
        return {"by": import_ref(route.by, f"{where}: Route(by=...)")}
    return {"pick": route.pick, "seed": route.seed}


def _template_entry(step: StepTemplate, where: str) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if type(step) is Prompt:
        entry["prompt"] = _prompt_entry(step, where)
    else:
        entry["class"] = import_ref(type(step), where)
        params = _constructor_args(step, vars(step.params), where, skip=("name",))
        if params:
            entry["params"] = params
    callback = _callback_entry(step.flow, where)
    if callback is not None:
        entry["callback"] = callback
    if step.models is not None:
        entry["models"] = list(step.models)
    if step.workflow_params:
        entry["workflow_params"] = dict(step.workflow_params)
    if step.generation:
        entry["generation"] = plain(dict(step.generation), f"{where}: generation")
    if step.tools:
        entry["tools"] = [
            import_ref(getattr(tool, "__wrapped__", tool), f"{where}: tool {name!r}")
            for name, tool in step.tools.items()
        ]
    return entry


def _function_entry(step: FunctionStep, where: str) -> dict[str, Any]:
    """A function step by import path, with what its decorator was given."""
    entry: dict[str, Any] = {"ref": import_ref(step.function, where)}
    if step.group is not None:
        entry["group"] = step.group
    if step.inline:
        entry["inline"] = True
    if step.version is not None:
        entry["version"] = step.version
    return entry


def _prompt_entry(step: Prompt, where: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"template": step.template}
    if isinstance(step.schema, type):
        entry["schema"] = import_ref(step.schema, f"{where}: schema")
    elif step.schema is not None:
        entry["schema"] = plain(step.schema, f"{where}: schema")
    if step.system is not None:
        entry["system"] = step.system
    return entry


def _callback_entry(flow: Callback, where: str) -> dict[str, Any] | None:
    kind = type(flow)
    if kind is Each:
        return None
    if kind is Scatter:
        return {"type": "scatter", "key": flow.key}
    if isinstance(flow, Broadcast) and kind is Broadcast:
        return {"type": "broadcast", "n": flow.n, "key": flow.key}
    if kind is Aggregate:
        return {"type": "aggregate", "key": flow.key, "by": flow.group_by}
    if kind is TemplateCallback:
        return {"type": "custom"}
    what = f"{where}: callback {kind.__name__}"
    return {"class": import_ref(kind, what), "args": _constructor_args(flow, {}, what)}


def _constructor_args(
    obj: Any, params: Mapping[str, Any], where: str, skip: Sequence[str] = ()
) -> dict[str, Any]:
    """The arguments that make `obj` again: by `type(obj)`'s signature, each taken from
    `params` (a step's `self.params`) or else the attribute of that name."""
    left = dict(params)
    args: dict[str, Any] = {}
    for parameter in inspect.signature(type(obj)).parameters.values():
        name = parameter.name
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            args.update({k: plain(v, f"{where}: argument {k!r}") for k, v in left.items()})
        elif parameter.kind is inspect.Parameter.VAR_POSITIONAL or name in skip:
            continue
        elif name in left or hasattr(obj, name):
            value = left.pop(name) if name in left else getattr(obj, name)
            if parameter.default is inspect.Parameter.empty or value != parameter.default:
                args[name] = plain(value, f"{where}: argument {name!r}")
        elif parameter.default is inspect.Parameter.empty:
            raise ConfigurationError(
                f"{where}: cannot write its constructor argument {name!r}, which it keeps "
                f"neither in self.params nor as self.{name}; keep it as self.{name} to dump"
            )
    return args


def plain(value: Any, where: str) -> Any:
    """`value` as YAML/JSON data; a class as `{$class: module:Name}`."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigurationError(f"{where}: {value!r} cannot be written to a file")
        return value
    if isinstance(value, type):
        return {CLASS_TAG: import_ref(value, where)}
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            raise ConfigurationError(f"{where}: a mapping with keys that are not text")
        return {key: plain(item, f"{where}[{key!r}]") for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise ConfigurationError(
        f"{where}: a {type(value).__name__} cannot be written to a pipeline file; use "
        "text, numbers, booleans, lists, dicts or classes"
    )


def _input_entry(index: int, source: RowSource, target: Path) -> dict[str, Any]:
    """The entry of `inputs:` that gives `source` again; `ConfigurationError` if none can."""
    where = f"input {index} ({source.label})"
    if source.entry is not None:
        return _written(source.entry, target, f"inputs-{index}", where)
    if source.kind == "dataset":
        raise ConfigurationError(
            f"{where}: a datasets.Dataset cannot be written to a pipeline file; save it "
            "(dataset.to_json('rows.jsonl')) and give that path to input()"
        )
    return _rows_entry(list(source.open()), target, f"inputs-{index}", where)


def _written(entry: Mapping[str, Any], target: Path, stem: str, where: str) -> dict[str, Any]:
    written: dict[str, Any] = {}
    for key, value in entry.items():
        if key == "rows":
            written |= _rows_entry(value, target, stem, where)
        elif key == "path" and not is_hub_path(value):
            written["path"] = _relative(value, target.parent)
        elif key == "mix":
            sources = [
                _written(source, target, f"{stem}-{j}", f"{where}: source {j}")
                for j, source in enumerate(value["sources"])
            ]
            settings = {k: plain(v, f"{where}: {k}") for k, v in value.items() if k != "sources"}
            written["mix"] = {"sources": sources, **settings}
        else:
            written[key] = plain(value, f"{where}: {key}")
    return written


def _rows_entry(rows: list[Any], target: Path, stem: str, where: str) -> dict[str, Any]:
    checked = []
    for number, row in enumerate(rows):
        row = row if isinstance(row, UnusableRow) else usable(row, f"row {number}")
        if isinstance(row, UnusableRow):
            raise ConfigurationError(f"{where}: {row.where}: {row.problem}")
        checked.append(plain(row, f"{where}: row"))
    if len(checked) <= INLINE_ROWS:
        return {"rows": checked}
    beside = target.with_name(f"{target.stem}.{stem}.jsonl")
    beside.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in checked))
    return {"path": beside.name}


def _relative(pattern: str, folder: Path) -> str:
    """A path as seen from the pipeline file's folder (absolute if on another drive)."""
    absolute = os.path.abspath(pattern)
    try:
        return os.path.relpath(absolute, folder.resolve())
    except ValueError:
        return absolute


def _refuse_secrets(document: Any, path: str = "") -> None:
    """Never write a secret fanflow knows (an API key given to an adapter, say)."""
    if isinstance(document, str):
        if redact(document) != document:
            raise ConfigurationError(
                f"pipeline file: {path or 'a value'} holds a secret (an API key or password "
                "given to an adapter); nothing was written. Keys come from the environment "
                "when the file is loaded (api_key_env)"
            )
    elif isinstance(document, Mapping):
        for key, value in document.items():
            _refuse_secrets(value, f"{path}.{key}" if path else str(key))
    elif isinstance(document, list):
        for i, value in enumerate(document):
            _refuse_secrets(value, f"{path}[{i}]")


def _as_json(document: Any) -> str:
    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n"


def _as_yaml(document: Any) -> str:
    import yaml  # PyYAML: imported only when a YAML file is written or read

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = "|" if "\n" in value else None  # multi-line prompts stay readable
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return yaml.dump(document, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=100)
