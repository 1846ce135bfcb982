"""`input(..., shuffle={"seed": 0, "buffer": 1000})`: a buffered shuffle of any source.

As `datasets.IterableDataset.shuffle(seed, buffer_size)`: rows fill a buffer of `buffer`
rows; then each row read takes the place of one drawn at random from the buffer, which is
yielded; at the end the buffer is yielded in random order. So a source is never loaded
whole (at most `buffer` rows are held), a row moves at most `buffer - 1` places forward, and
the same seed gives the same order, so the rows keep their root indices (`_lineage`) run
after run and a rerun resumes from the store. A buffer as large as the source is a full
shuffle. Unusable rows are shuffled like any other (they keep failing in their new place).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from fanflow._exceptions import ConfigurationError

__all__ = ["DEFAULT_BUFFER", "Shuffle", "shuffled"]

DEFAULT_BUFFER = 1000
"""Rows held for shuffling when `buffer` is not given (as in `datasets`)."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Shuffle:
    """A checked `shuffle=` option."""

    seed: int
    buffer: int

    @classmethod
    def checked(cls, given: Any) -> Shuffle:
        """From `{"seed": int, "buffer": int}` (both optional: seed 0, buffer 1000)."""
        if not isinstance(given, Mapping):
            raise ConfigurationError(
                f"input(shuffle={given!r}): give a dict, e.g. shuffle={{'seed': 0, "
                f"'buffer': {DEFAULT_BUFFER}}}"
            )
        unknown = sorted(set(given) - {"seed", "buffer"})
        if unknown:
            raise ConfigurationError(
                f"input(shuffle=...): unknown key(s) {unknown}; the keys are seed and buffer"
            )
        seed, buffer = given.get("seed", 0), given.get("buffer", DEFAULT_BUFFER)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigurationError(f"input(shuffle=...): seed={seed!r}; give a whole number")
        if isinstance(buffer, bool) or not isinstance(buffer, int) or buffer < 1:
            raise ConfigurationError(
                f"input(shuffle=...): buffer={buffer!r}; give a whole number of rows, 1 or more"
            )
        return cls(seed, buffer)

    def describe(self) -> dict[str, int]:
        return {"seed": self.seed, "buffer": self.buffer}


def shuffled(rows: Iterable[T], shuffle: Shuffle) -> Iterator[T]:
    """`rows` in a random order fixed by `shuffle.seed`, holding `shuffle.buffer` rows."""
    rng = random.Random(shuffle.seed)
    buffer: list[T] = []
    for row in rows:
        if len(buffer) < shuffle.buffer:
            buffer.append(row)
            continue
        place = rng.randrange(shuffle.buffer)
        yield buffer[place]
        buffer[place] = row
    rng.shuffle(buffer)
    yield from buffer
