"""`fanflow.Mix`: several input sources drawn from by weight, reproducibly for a seed.

```python
builder.input(fanflow.Mix({"a.jsonl": 0.7, dataset_b: 0.3}, seed=0))
```

Each row comes from a source picked at random in proportion to its weight (a seeded
`random.Random`, so the same seed gives the same rows in the same order) and is read only
then: sources are streamed, never loaded. Every row is tagged with its source's name in
`column` (`_source`): `names[i]` if given, else the path as given, else the source's
label. `stop`, as in `datasets.interleave_datasets`: "first_exhausted" ends when any
source runs out; "all_exhausted" starts a source that ran out again until every source has
been read to its end once (so small sources are oversampled). A source with weight 0 is never read.

A source is anything `input()` takes: a path or glob, a list of rows, a `datasets` dataset
(`Dataset`, `IterableDataset`, e.g. `datasets.load_dataset(repo, split="train",
streaming=True)`), or `"hf://datasets/owner/name"` (a Hub dataset with one split; for one
split of several, give `load_dataset(...)`'s dataset). A pipeline file writes a mix of
paths, rows and Hub addresses as a `mix:` entry (`_file_inputs`).
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from itertools import accumulate
from pathlib import Path
from typing import Any, Literal

from fanflow._exceptions import ConfigurationError
from fanflow.engine.pipeline._input_rows import Row, UnusableRow
from fanflow.engine.pipeline._inputs import RowSource, source_from

__all__ = ["Mix"]

Stop = Literal["first_exhausted", "all_exhausted"]
STOPS = ("first_exhausted", "all_exhausted")


class Mix:
    """Input rows drawn from `sources` ({source: weight}, or (source, weight) pairs for
    sources that cannot be dict keys, such as lists) in proportion to their weights."""

    def __init__(
        self,
        sources: Mapping[Any, float] | Sequence[tuple[Any, float]],
        *,
        seed: int = 0,
        stop: Stop = "first_exhausted",
        limit: int | None = None,
        column: str = "_source",
        names: Sequence[str] | None = None,
    ) -> None:
        pairs = list(sources.items()) if isinstance(sources, Mapping) else list(sources)
        self.weights = _checked_weights(pairs)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigurationError(f"Mix(seed={seed!r}): give a whole number")
        if stop not in STOPS:
            raise ConfigurationError(f"Mix(stop={stop!r}): use one of {list(STOPS)}")
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 0
        ):
            raise ConfigurationError(
                f"Mix(limit={limit!r}): give a whole number of rows, 0 or more"
            )
        if not isinstance(column, str) or not column:
            raise ConfigurationError(f"Mix(column={column!r}): give a column name")
        self.sources = [source for source, _ in pairs]
        self.names = _checked_names(names, len(pairs))
        self.seed, self.stop, self.limit, self.column = seed, stop, limit, column

    def row_source(self) -> RowSource:
        """The mixed rows as one source; each source is checked now (a missing file is a
        `ConfigurationError` naming it)."""
        sources = [source_from(source) for source in self.sources]
        names = self.names or _names(self.sources, sources)
        label = "Mix(" + ", ".join(f"{n}: {w}" for n, w in zip(names, self.weights, strict=True))
        label += f", seed={self.seed}, stop={self.stop}, limit={self.limit})"
        entry = self._entry(sources, names)
        return RowSource(lambda: self._rows(sources, names), None, label, "mix", entry)

    def _entry(self, sources: list[RowSource], names: list[str]) -> dict[str, Any] | None:
        """How a pipeline file writes this mix (`_file_inputs`); None if a source cannot
        be described (a `datasets` object)."""
        if any(source.entry is None for source in sources):
            return None
        described = [
            {**source.entry, "weight": weight}  # type: ignore[dict-item]
            for source, weight in zip(sources, self.weights, strict=True)
        ]
        mix = {"sources": described, "seed": self.seed, "stop": self.stop, "limit": self.limit}
        return {"mix": {**mix, "column": self.column, "names": names}}

    def _rows(self, sources: list[RowSource], names: list[str]) -> Iterator[Row | UnusableRow]:
        rng = random.Random(self.seed)
        active = [i for i, weight in enumerate(self.weights) if weight > 0]
        readers = {i: sources[i].open() for i in active}  # generators: nothing read yet
        unfinished = set(active)
        drawn = 0
        cumulative = list(accumulate(self.weights[i] for i in active))
        while active and (self.limit is None or drawn < self.limit):
            pick = active[bisect_right(cumulative, rng.random() * cumulative[-1])]
            row = next(readers[pick], None)
            if row is None:  # this source ran out
                if self.stop == "first_exhausted":
                    return
                unfinished.discard(pick)
                readers[pick] = sources[pick].open()  # oversample it from the start
                row = next(readers[pick], None)
                if not unfinished:
                    return
                if row is None:  # an empty source: nothing to oversample
                    active.remove(pick)
                    cumulative = list(accumulate(self.weights[i] for i in active))
                    continue
            drawn += 1
            yield row if isinstance(row, UnusableRow) else {**row, self.column: names[pick]}


def _checked_weights(pairs: list[Any]) -> list[float]:
    if not pairs:
        raise ConfigurationError("Mix() needs at least one source: Mix({'a.jsonl': 1.0})")
    weights: list[float] = []
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise ConfigurationError(
                f"Mix(): {pair!r} is not a (source, weight) pair; give {{source: weight}}"
            )
        source, weight = pair
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
            raise ConfigurationError(
                f"Mix(): the weight of {_short(source)} is {weight!r}; give a number, 0 or more"
            )
        weights.append(float(weight))
    if not any(weights):
        raise ConfigurationError("Mix(): every weight is 0; give at least one source a weight")
    return weights


def _checked_names(names: Sequence[str] | None, count: int) -> list[str] | None:
    if names is None:
        return None
    names = list(names)
    if len(names) != count or len(set(names)) != count:
        raise ConfigurationError(
            f"Mix(names={names!r}): give one distinct name per source ({count})"
        )
    if not all(isinstance(name, str) and name for name in names):
        raise ConfigurationError(f"Mix(names={names!r}): names must be non-empty text")
    return names


def _names(given: list[Any], sources: list[RowSource]) -> list[str]:
    """A path as given, else the source's label; made unique with the source's position."""
    names = [
        str(g) if isinstance(g, (str, Path)) else s.label
        for g, s in zip(given, sources, strict=True)
    ]
    return [name if names.count(name) == 1 else f"{name}[{i}]" for i, name in enumerate(names)]


def _short(source: Any) -> str:
    text = repr(source)
    return text if len(text) <= 60 else text[:57] + "..."
