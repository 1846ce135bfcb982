"""One `execute()` as a recorded run: its run record, its sink, the resume hint.

An interrupted run (Ctrl-C, cancellation, an error) is recorded as such, and the hint on
how to resume goes to the `fanflow` logger (the CLI shows it).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from fanflow._redact import get_logger
from fanflow.engine.pipeline._history import stats_to_dict
from fanflow.engine.pipeline._results import PipelineResult, RunStats
from fanflow.engine.pipeline._reuse import Reuse
from fanflow.engine.pipeline._sharing import Sharing
from fanflow.engine.pipeline._sink import ResultSink
from fanflow.store import Store, new_run_identity

__all__ = ["RunSession"]

logger = get_logger("fanflow.run")

Clock = Callable[[], tuple[float, "str | None"]]


class RunSession:
    """One run: where its results go (`sink`), and its record in the store."""

    def __init__(self, sink: ResultSink, name: str) -> None:
        self.sink, self.name = sink, name
        self._stats: RunStats = sink.collector.finish(0.0, None)

    @classmethod
    def open(
        cls,
        store: str | Path | Literal[False] | None,
        run_name: str | None,
        names: list[str],
        settings: Callable[[], tuple[str, Mapping[str, Any]]],
        use_cache: bool,
        default_model: str | None,
        leaves: list[str] | None = None,
    ) -> RunSession:
        """`settings()` gives (fingerprint, config) to record; called only with a store."""
        opened = None if store is False else Store(store)
        run_id, name = new_run_identity(run_name, names[0])
        sink = ResultSink(opened, run_id, names, use_cache, default_model, leaves)
        if opened is not None:
            fingerprint, config = settings()
            opened.start_run(run_id, name, fingerprint, config, names)
            sink.reuse = Reuse(opened, name, config.get("network"))
        return cls(sink, name)

    @contextmanager
    def recording(self, clock: Clock) -> Iterator[None]:
        """Around the run: marks the run ok, or interrupted/failed with a resume hint."""
        status = "failed"
        if self.sink.store is not None and self.sink.use_cache:
            # Tasks in flight are shared with identical runs going on now (`_sharing`).
            self.sink.sharing = Sharing(self.sink.store, self.sink.run_id)
        unsaved = None
        try:
            yield
            status = "ok"
        except BaseException as exc:
            status = "interrupted" if _is_interruption(exc) else "failed"
            raise
        finally:
            unsaved = self.sink.settle()
            if unsaved is not None and status == "ok":
                status = "failed"
            if self.sink.sharing is not None:
                self.sink.sharing.close()
            wall, stopped = clock()
            self._stats = self._finished_stats(wall, stopped)
            _warn_if_cut_off(self.name, self._stats)
            _log_closing(self.name, status, self._stats)
            store = self.sink.store
            if store is not None:
                store.finish_run(self.sink.run_id, status, stats_to_dict(self._stats))
                if status != "ok":
                    self._hint(store, status)
        if unsaved is not None:
            raise unsaved

    def result(self, value_columns: frozenset[str] = frozenset()) -> PipelineResult:
        """The run's result; `value_columns`: steps whose row column is their parsed value."""
        return PipelineResult(
            self.sink.source(), stats=self._stats, run_name=self.name, value_columns=value_columns
        )

    def _finished_stats(self, wall: float, stopped: str | None) -> RunStats:
        stats = self.sink.collector.finish(wall, stopped)
        reuse = self.sink.reuse
        if reuse is None or not reuse.by_origin:
            return stats
        return dataclasses.replace(stats, from_store=reuse.total, from_runs=reuse.by_run_name())

    def _hint(self, store: Store, status: str) -> None:
        logger.warning(
            "run %r %s; %d finished tasks are saved in %s. Run the same pipeline again to "
            "resume: saved tasks are not sent again.",
            self.name,
            status,
            self.sink.saved,
            store.path,
        )


def _warn_if_cut_off(name: str, stats: RunStats) -> None:
    if stats.truncated:
        logger.warning(
            "run %r: %d task(s) got an answer cut off at max_tokens (finish_reason 'length'); "
            "their TaskResult.finish_reason says so. Raise max_tokens to get whole answers.",
            name,
            stats.truncated,
        )


def _log_closing(name: str, status: str, stats: RunStats) -> None:
    """One line per run: its outcome, what came from the store (and from which runs)."""
    tasks = stats.tasks
    origins = ", ".join(f"{run!r}: {count}" for run, count in list(stats.from_runs.items())[:5])
    logger.info(
        "run %r %s: %d tasks (%d ok, %d failed, %d timed out, %d skipped); %d from the "
        "store%s; %d requests in %.1fs",
        name,
        status,
        sum(tasks.values()),
        tasks.get("ok", 0),
        tasks.get("failed", 0),
        tasks.get("timed_out", 0),
        tasks.get("skipped", 0),
        stats.from_store,
        f" (answered by runs {origins})" if origins else "",
        stats.requests,
        stats.wall_time_s,
    )


def _is_interruption(exc: BaseException) -> bool:
    return isinstance(exc, (KeyboardInterrupt, asyncio.CancelledError))
