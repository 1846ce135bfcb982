"""`load_pipeline(path)`: a pipeline file (format: `_file_format`) made into a `Pipeline`.

Reading (`read_document`), changing from the command line (`_file_overrides`) and making
(`pipeline_from_document`) are apart, so `fanflow run --set ...` edits the document
before anything is constructed and its values are checked as the file's are.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel

from fanflow._exceptions import ConfigurationError
from fanflow.adapters import LLMAdapter
from fanflow.callbacks import Aggregate, Broadcast, Callback
from fanflow.engine.pipeline._file_format import (
    CLASS_TAG,
    FORMAT_VERSION,
    FileError,
    Lines,
    expect_keys,
    expect_mapping,
    names_its_key,
    resolve_ref,
)
from fanflow.engine.pipeline._file_inputs import add_inputs
from fanflow.engine.pipeline._file_network import network_from_entry
from fanflow.engine.pipeline._graph import Route
from fanflow.engine.pipeline._pipeline import Pipeline, PipelineBuilder, PipelineConfig
from fanflow.steps import FunctionStep, Prompt, StepTemplate

__all__ = ["load_pipeline", "pipeline_from_document", "read_document"]

TOP_KEYS = ("fanflow", "steps", "edges", "inputs", "config", "network")
STEP_KEYS = (
    "name", "prompt", "class", "function", "params", "callback", "models", "workflow_params",
    "generation", "tools", "route",
)  # fmt: skip
ROUTE_KEYS = ("pick", "seed", "by")
FUNCTION_KEYS = ("ref", "group", "inline", "version")
PROMPT_KEYS = ("template", "schema", "system")
CALLBACK_KEYS = {
    "scatter": ("type", "key"),
    "broadcast": ("type", "n", "key"),
    "aggregate": ("type", "key", "by"),
    "custom": ("type",),
}


def load_pipeline(path: str | Path, network: LLMAdapter | None = None) -> Pipeline:
    """The pipeline a file written by `Pipeline.dump` (or by hand) describes, built.

    `network` replaces the file's network. API keys come from the environment (see
    `_file_network`). A bad file is a `ConfigurationError` naming the key and line.
    """
    document, error = read_document(path)
    return pipeline_from_document(document, error, Path(path), network)


def read_document(path: str | Path) -> tuple[Any, FileError]:
    """The file's data, and the `FileError` that names its keys (with YAML lines)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read pipeline file {file}: {exc}") from None
    if file.suffix.lower() == ".json":
        try:
            return orjson.loads(text), FileError(str(file))
        except orjson.JSONDecodeError as exc:
            raise ConfigurationError(f"pipeline file {file} is not valid JSON: {exc}") from None
    return _read_yaml(text, file)


def _read_yaml(text: str, file: Path) -> tuple[Any, FileError]:
    import yaml  # PyYAML: imported only when a YAML file is read or written

    try:
        lines = _lines(yaml.compose(text, Loader=yaml.SafeLoader))
        return yaml.safe_load(text), FileError(str(file), lines)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or exc
        raise ConfigurationError(f"pipeline file {file} is not valid YAML{at}: {problem}") from None


def _lines(node: Any, path: tuple[str | int, ...] = (), lines: Lines | None = None) -> Lines:
    """Key path -> line of every key and list item of a composed YAML document."""
    lines = {} if lines is None else lines
    if node is None:
        return lines
    if isinstance(node.value, list):
        for i, item in enumerate(node.value):
            if isinstance(item, tuple):  # a mapping's (key node, value node)
                key, value = item
                inner = (*path, key.value)
                lines[inner] = key.start_mark.line + 1
                _lines(value, inner, lines)
            else:
                inner = (*path, i)
                lines[inner] = item.start_mark.line + 1
                _lines(item, inner, lines)
    return lines


def pipeline_from_document(
    document: Any, error: FileError, file: Path, network: LLMAdapter | None = None
) -> Pipeline:
    """Make and build the pipeline; every problem a `ConfigurationError` naming its key."""
    top = expect_mapping(document, error, [])
    expect_keys(top, TOP_KEYS, error, [])
    if top.get("fanflow") != FORMAT_VERSION:
        raise error(["fanflow"], f"expected the format version {FORMAT_VERSION}")
    search = [file.resolve().parent, Path.cwd()]
    steps = _steps(top.get("steps"), error, search)
    edges = _edges(top.get("edges"), steps, error)
    config = _config(top.get("config"), error)
    if network is None:
        network = _network(top.get("network"), error, search)
    builder = PipelineBuilder(config, network)
    add_inputs(builder, top.get("inputs"), error, file.parent)
    routes = _routes(top["steps"], steps, edges, error, search)
    if edges is None and routes:  # a chain whose steps route: drawn edge by edge
        edges = list(pairwise(steps))
    if edges is None:
        for step in steps:
            builder << step
    else:
        builder << steps[0]
        for up, down in edges:
            if up.name not in routes:
                builder.connect(up, down)
            elif (route := routes[up.name]) is not None:  # its first edge: all its branches
                builder.connect(up, route)
                routes[up.name] = None
    try:
        return builder.build()
    except ConfigurationError as exc:
        raise exc.with_context(f"pipeline file {file}: ") from None


def _steps(given: Any, error: FileError, search: list[Path]) -> list[StepTemplate]:
    if not isinstance(given, list) or not given:
        raise error(["steps"], "expected a list of steps (at least one)")
    return [_step(entry, error, ["steps", i], search) for i, entry in enumerate(given)]


def _step(entry: Any, error: FileError, path: list[Any], search: list[Path]) -> StepTemplate:
    entry = expect_mapping(entry, error, path)
    expect_keys(entry, STEP_KEYS, error, path)
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise error([*path, "name"], "every step needs a name (text)")
    if sum(kind in entry for kind in ("prompt", "class", "function")) != 1:
        raise error(
            path,
            "a step needs exactly one of prompt: {...}, class: module:Name or "
            "function: {ref: module:name}",
        )
    if "function" in entry:
        expect_keys(entry, ("name", "function", "route"), error, path)
        return _function_step(name, entry, error, path, search)
    try:
        step: StepTemplate
        if "prompt" in entry:
            step = _prompt(name, entry["prompt"], error, [*path, "prompt"], search)
        else:
            step = _class_step(name, entry, error, path, search)
        _settings(step, entry, error, path, search)
    except ConfigurationError as exc:
        if names_its_key(exc):
            raise
        raise error(path, str(exc)) from None
    return step


def _function_step(
    name: str, entry: Mapping[str, Any], error: FileError, path: list[Any], search: list[Path]
) -> FunctionStep:
    where = [*path, "function"]
    given = expect_mapping(entry["function"], error, where)
    expect_keys(given, FUNCTION_KEYS, error, where)
    function = resolve_ref(given.get("ref"), search, error, [*where, "ref"])
    if isinstance(function, FunctionStep):  # the module's name is the decorated step
        function = function.function
    try:
        return FunctionStep(
            function,
            name=name,
            group=given.get("group"),
            inline=bool(given.get("inline", False)),
            version=given.get("version"),
        )
    except ConfigurationError as exc:
        raise error(where, str(exc)) from None


def _prompt(name: str, given: Any, error: FileError, path: list[Any], search: list[Path]) -> Prompt:
    given = expect_mapping(given, error, path)
    expect_keys(given, PROMPT_KEYS, error, path)
    template = given.get("template")
    if not isinstance(template, str):
        raise error([*path, "template"], "a prompt needs its template (text)")
    schema = given.get("schema")
    if isinstance(schema, str):
        schema = resolve_ref(schema, search, error, [*path, "schema"])
        if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
            raise error([*path, "schema"], f"{given['schema']} is not a pydantic model")
    elif schema is not None and not isinstance(schema, Mapping):
        raise error([*path, "schema"], "expected module:Model or a JSON schema mapping")
    return Prompt(name, template, schema, system=given.get("system"))


def _class_step(
    name: str, entry: Mapping[str, Any], error: FileError, path: list[Any], search: list[Path]
) -> StepTemplate:
    cls = resolve_ref(entry["class"], search, error, [*path, "class"])
    if not (isinstance(cls, type) and issubclass(cls, StepTemplate)):
        raise error([*path, "class"], f"{entry['class']} is not a StepTemplate subclass")
    params = _decoded(entry.get("params") or {}, error, [*path, "params"], search)
    params = dict(expect_mapping(params, error, [*path, "params"]))
    takes_name = _accepts(cls, "name")
    args = {"name": name, **params} if takes_name else params
    step: StepTemplate = _construct(cls, args, error, [*path, "params"])
    step.name = name
    return step


def _settings(
    step: StepTemplate, entry: Mapping[str, Any], error: FileError, path: list[Any],
    search: list[Path],
) -> None:  # fmt: skip
    if entry.get("callback") is not None:
        _callback(step, entry["callback"], error, [*path, "callback"], search)
    try:
        if entry.get("models") is not None:
            step.set_models(entry["models"])
    except ConfigurationError as exc:
        raise error([*path, "models"], str(exc)) from None
    _generation_and_tools(step, entry, error, path, search)
    where = [*path, "workflow_params"]
    try:
        if entry.get("workflow_params"):
            params = expect_mapping(entry["workflow_params"], error, where)
            _construct(step.set_workflow_params, params, error, where)
    except ConfigurationError as exc:
        if names_its_key(exc):
            raise
        raise error(where, str(exc)) from None


def _generation_and_tools(
    step: StepTemplate, entry: Mapping[str, Any], error: FileError, path: list[Any],
    search: list[Path],
) -> None:  # fmt: skip
    if entry.get("generation"):
        where = [*path, "generation"]
        generation = expect_mapping(entry["generation"], error, where)
        try:
            step.set_generation(**generation)
        except (ConfigurationError, TypeError) as exc:
            raise error(where, str(exc)) from None
    if entry.get("tools"):
        where = [*path, "tools"]
        refs = entry["tools"]
        if not isinstance(refs, list):
            raise error(where, "expected a list of 'module:function' import paths")
        tools = [resolve_ref(ref, search, error, [*where, i]) for i, ref in enumerate(refs)]
        try:
            step.set_tools(tools)
        except ConfigurationError as exc:
            raise error(where, str(exc)) from None


def _callback(
    step: StepTemplate, given: Any, error: FileError, path: list[Any], search: list[Path]
) -> None:
    given = expect_mapping(given, error, path)
    if "class" in given:
        expect_keys(given, ("class", "args"), error, path)
        cls = resolve_ref(given["class"], search, error, [*path, "class"])
        if not (isinstance(cls, type) and issubclass(cls, Callback)):
            raise error([*path, "class"], f"{given['class']} is not a Callback subclass")
        args = expect_mapping(_decoded(given.get("args") or {}, error, path, search), error, path)
        step.then(_construct(cls, args, error, [*path, "args"]))
        return
    kind = given.get("type")
    if kind not in CALLBACK_KEYS:
        raise error([*path, "type"], f"expected one of {list(CALLBACK_KEYS)} (or class:)")
    expect_keys(given, CALLBACK_KEYS[kind], error, path)
    key = given.get("key")
    if kind == "scatter":
        step.scatter(key)
    elif kind == "broadcast":
        step.then(Broadcast(given.get("n"), key))  # n is checked there
    elif kind == "aggregate":
        step.then(Aggregate(key, by=given.get("by", "root")))
    else:
        step.custom()


def _construct(make: Any, args: Mapping[str, Any], error: FileError, path: list[Any]) -> Any:
    """`make(**args)`, a wrong or missing argument named as a problem of the file."""
    parameters = inspect.signature(make).parameters.values()
    if all(p.kind is not inspect.Parameter.VAR_KEYWORD for p in parameters):
        takes = [p.name for p in parameters if p.kind is not inspect.Parameter.VAR_POSITIONAL]
        for name in args:
            if name not in takes:
                raise error([*path, name], f"unknown argument {name!r}; it takes {takes}")
    try:
        inspect.signature(make).bind(**args)
    except TypeError as exc:
        raise error(path, f"{exc}") from None
    try:
        return make(**args)
    except ConfigurationError:
        raise
    except Exception as exc:  # the user's constructor refused these arguments
        raise error(path, f"{type(exc).__name__}: {exc}") from exc


def _accepts(cls: type, name: str) -> bool:
    parameters = inspect.signature(cls).parameters.values()
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def _decoded(value: Any, error: FileError, path: list[Any], search: list[Path]) -> Any:
    """Plain data with every `{$class: module:Name}` replaced by that class."""
    if isinstance(value, Mapping):
        if set(value) == {CLASS_TAG}:
            return resolve_ref(value[CLASS_TAG], search, error, path)
        return {k: _decoded(v, error, [*path, k], search) for k, v in value.items()}
    if isinstance(value, list):
        return [_decoded(v, error, [*path, i], search) for i, v in enumerate(value)]
    return value


def _routes(
    entries: list[Any],
    steps: list[StepTemplate],
    edges: list[tuple[StepTemplate, StepTemplate]] | None,
    error: FileError,
    search: list[Path],
) -> dict[str, Route | None]:
    """Each routing step's `Route`, by its name; its branches are its edges' ends."""
    routes: dict[str, Route | None] = {}
    links = edges if edges is not None else list(pairwise(steps))
    for i, (entry, step) in enumerate(zip(entries, steps, strict=True)):
        if entry.get("route") is None:
            continue
        where: list[str | int] = ["steps", i, "route"]
        given = expect_mapping(entry["route"], error, where)
        expect_keys(given, ROUTE_KEYS, error, where)
        by = given.get("by")
        chooser = None if by is None else resolve_ref(by, search, error, [*where, "by"])
        branches = [down for up, down in links if up is step]
        try:
            routes[step.name] = Route(branches, given.get("pick"), given.get("seed", 0), chooser)
        except ConfigurationError as exc:
            raise error(where, str(exc)) from None
    return routes


def _edges(
    given: Any, steps: list[StepTemplate], error: FileError
) -> list[tuple[StepTemplate, StepTemplate]] | None:
    """The graph's edges as steps, in an order that adds every upstream step first; None
    when they are the chain of `steps` in order (what `<<` makes), or absent."""
    names = [step.name for step in steps]
    if given is None or given == [[a, b] for a, b in pairwise(names)]:
        return None
    if not isinstance(given, list) or not all(isinstance(e, list) and len(e) == 2 for e in given):
        raise error(["edges"], "expected a list of [upstream, downstream] step names")
    by_name = dict(zip(names, steps, strict=True))
    for i, (upstream, downstream) in enumerate(given):
        for name in (upstream, downstream):
            if name not in by_name:
                raise error(["edges", i], f"no step is named {name!r} (steps: {names})")
    added, edges, waiting = {names[0]}, [], list(given)
    while waiting:  # an edge can be drawn once its upstream step is in the pipeline
        ready = [edge for edge in waiting if edge[0] in added]
        if not ready:
            raise error(["edges"], f"no path from the first step {names[0]!r} to {waiting[0]}")
        for upstream, downstream in ready:
            edges.append((by_name[upstream], by_name[downstream]))
            added.add(downstream)
        waiting = [edge for edge in waiting if not any(edge is done for done in ready)]
    return edges


def _config(given: Any, error: FileError) -> PipelineConfig:
    if given is None:
        return PipelineConfig()
    try:
        return PipelineConfig(**expect_mapping(given, error, ["config"]))
    except ConfigurationError as exc:
        raise error(["config"], str(exc)) from None


def _network(given: Any, error: FileError, search: list[Path]) -> LLMAdapter:
    if given is None:
        raise error(
            ["network"],
            "the file names no network; give one: load_pipeline(path, network=...) or "
            "`fanflow run FILE --base-url URL --model NAME`",
        )
    return network_from_entry(given, error, ["network"], search)
