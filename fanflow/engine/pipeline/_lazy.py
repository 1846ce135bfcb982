"""Sequences that read from the store when used, so a large run's rows never sit in memory.

`result.rows` and `result.failures` of a store-backed run are these: `len()` is a count
query, iterating reads the results a batch at a time, `seq[i]` and `seq[a:b]` read just
that part (an int index or a slice gives what a list would; a slice is a list). Indexing
in a loop re-reads from the start each time: iterate instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from typing import Any, TypeVar, overload

from fanflow.steps import TaskResult
from fanflow.store import Store

__all__ = ["MappedSequence", "StoredResults"]

T = TypeVar("T")


class _Compares(Sequence[T]):
    """Equality with any sequence of the same items (a list, as `rows` once was)."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=False))

    __hash__ = None  # type: ignore[assignment]  # mutable-like: equal to a list


class StoredResults(_Compares[TaskResult]):
    """Some of a run's results (one step, ok or not), read from the store on each use."""

    def __init__(
        self,
        store: Store,
        run_id: str,
        step_index: int | None = None,
        *,
        ok_only: bool = False,
        failed_only: bool = False,
    ) -> None:
        self._store, self._run_id, self._step = store, run_id, step_index
        self._filters = {"ok_only": ok_only, "failed_only": failed_only}

    def __len__(self) -> int:
        return self._store.count(self._run_id, self._step, **self._filters)

    def __iter__(self) -> Iterator[TaskResult]:
        return self._store.results(self._run_id, self._step, **self._filters)

    @overload
    def __getitem__(self, index: int) -> TaskResult: ...
    @overload
    def __getitem__(self, index: slice) -> list[TaskResult]: ...
    def __getitem__(self, index: int | slice) -> TaskResult | list[TaskResult]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step < 0 or stop <= start:
                return list(self)[index] if step < 0 else []
            return list(islice(self._read(start, stop - start), 0, None, step))
        position = index + len(self) if index < 0 else index
        found = next(self._read(position, 1), None) if position >= 0 else None
        if found is None:
            raise IndexError(f"result index {index} out of range")
        return found

    def _read(self, offset: int, limit: int) -> Iterator[TaskResult]:
        return self._store.results(self._run_id, self._step, **self._filters,
                                   offset=offset, limit=limit)  # fmt: skip

    def __repr__(self) -> str:
        return f"<{len(self)} results of run {self._run_id} in {self._store.path}>"


class MappedSequence(_Compares[T]):
    """`items` with `convert` applied to each as it is read (rows from results)."""

    def __init__(self, items: Sequence[Any], convert: Callable[[Any], T]) -> None:
        self._items, self._convert = items, convert

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[T]:
        return map(self._convert, self._items)

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...
    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            return [self._convert(item) for item in self._items[index]]
        return self._convert(self._items[index])

    def __repr__(self) -> str:
        return f"<{len(self)} rows>"
