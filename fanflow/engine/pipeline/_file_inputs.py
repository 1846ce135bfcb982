"""The `inputs:` of a pipeline file: read into `builder.input(...)` calls, and written back.

An entry is one source and its options:

```yaml
inputs:
  - rows: [{instruction: Write a haiku}]          # rows inline
  - path: data/*.jsonl                            # files, relative to the pipeline file
    columns: {text: instruction}                  # input(columns=, shuffle=, skip=, limit=)
    shuffle: {seed: 0, buffer: 1000}
    skip: 10
    limit: 100
  - path: hf://datasets/owner/name                # a Hub dataset; the other keys go to
    split: train                                  # datasets.load_dataset (streaming:
    name: default                                 # true unless given)
  - mix:                                          # fanflow.Mix
      sources:                                    # entries as above, each with a weight
        - {path: a.jsonl, weight: 0.7}
        - {path: hf://datasets/owner/name, split: train, weight: 0.3}
      seed: 0
      stop: first_exhausted
      limit: null
      column: _source
      names: [a, b]
```

`Pipeline.dump` (`_file_dump`) writes each source so: files by path (relative to the
file), a Hub dataset by its address and load arguments, a mix by its sources; a list of
rows inline, or beside the file when long. A source that cannot be described (a mix of a
`datasets` object) is written as the rows it gives; a `datasets` object given alone is
refused.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fanflow._exceptions import ConfigurationError
from fanflow.engine.pipeline._file_format import (
    FileError,
    expect_keys,
    expect_mapping,
    names_its_key,
)
from fanflow.engine.pipeline._input_hub import is_hub_path
from fanflow.engine.pipeline._input_options import InputOptions, check_renames, with_options
from fanflow.engine.pipeline._inputs import RowSource, source_from
from fanflow.engine.pipeline._mix import Mix
from fanflow.engine.pipeline._pipeline import PipelineBuilder

__all__ = ["add_inputs"]

SOURCES = ("rows", "path", "mix")
OPTIONS = ("columns", "shuffle", "skip", "limit")
MIX_KEYS = ("sources", "seed", "stop", "limit", "column", "names")


def add_inputs(builder: PipelineBuilder, given: Any, error: FileError, folder: Path) -> None:
    """`builder.input(...)` for each entry of `inputs:`; errors name the entry's key."""
    if not isinstance(given, list) or not given:
        raise error(["inputs"], "expected a list of inputs: {rows: [...]} or {path: ...}")
    for i, entry in enumerate(given):
        path: list[Any] = ["inputs", i]
        data, load_args, options = _parsed(entry, error, path, folder)
        with _naming(error, path):
            builder.input(data, **load_args, **options)


def _parsed(
    entry: Any, error: FileError, path: list[Any], folder: Path, extra: tuple[str, ...] = ()
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """(data, load arguments, options) of one entry, for `input()`."""
    entry = expect_mapping(entry, error, path)
    kinds = [kind for kind in SOURCES if kind in entry]
    if len(kinds) != 1:
        raise error(path, "expected exactly one of rows: [...], path: file-or-glob, or mix:")
    options = {key: entry[key] for key in OPTIONS if key in entry}
    rest = {key: value for key, value in entry.items() if key not in (*OPTIONS, *extra)}
    value = entry[kinds[0]]
    if kinds[0] == "path" and is_hub_path(value):  # the other keys are load arguments
        return value, {k: v for k, v in rest.items() if k != "path"}, options
    expect_keys(rest, SOURCES, error, path)
    if kinds[0] == "rows":
        if not isinstance(value, list):
            raise error([*path, "rows"], "expected a list of rows (mappings)")
        return value, {}, options
    if kinds[0] == "path":
        if not isinstance(value, str):
            raise error([*path, "path"], "expected a file path or glob, or hf://datasets/...")
        return str(folder / value), {}, options  # an absolute path stays itself
    return _mix(value, error, [*path, "mix"], folder), {}, options


def _mix(given: Any, error: FileError, path: list[Any], folder: Path) -> Mix:
    given = expect_mapping(given, error, path)
    expect_keys(given, MIX_KEYS, error, path)
    entries = given.get("sources")
    if not isinstance(entries, list) or not entries:
        raise error(path, "expected sources: a list of inputs, each with a weight")
    pairs = [
        _mix_source(entry, error, [*path, "sources", j], folder) for j, entry in enumerate(entries)
    ]
    settings = {key: given[key] for key in MIX_KEYS[1:] if key in given}
    with _naming(error, path):
        return Mix(pairs, **settings)


def _mix_source(
    entry: Any, error: FileError, path: list[Any], folder: Path
) -> tuple[RowSource, Any]:
    if not isinstance(entry, Mapping) or "weight" not in entry:
        raise error(path, "expected an input with its weight: {path: ..., weight: 0.5}")
    data, load_args, given = _parsed(entry, error, path, folder, extra=("weight",))
    with _naming(error, path):
        options = InputOptions.checked(
            given.get("columns"), given.get("skip"), given.get("limit"), given.get("shuffle")
        )
        given_data = data.row_source() if isinstance(data, Mix) else data
        source = with_options(source_from(given_data, load_args), options)
        if options.columns:
            check_renames(source, options)
    return source, entry["weight"]


@contextmanager
def _naming(error: FileError, path: list[Any]) -> Iterator[None]:
    """Re-raises a `ConfigurationError` that names no file key as one naming `path`."""
    try:
        yield
    except ConfigurationError as exc:
        if names_its_key(exc):
            raise
        raise error(path, str(exc)) from None
