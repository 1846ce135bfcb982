"""Past runs as results: `fanflow.load_run(id_or_name)` returns a run's `PipelineResult`,
reading steps and rows from the store as they are asked for; nothing is sent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from fanflow.adapters import Usage
from fanflow.engine.pipeline._accounting import UsageTotals
from fanflow.engine.pipeline._lazy import StoredResults
from fanflow.engine.pipeline._results import PipelineResult, RunStats, StepResults
from fanflow.engine.pipeline._run_graph import graph_of_record
from fanflow.steps import TaskResult
from fanflow.store import Store

__all__ = ["StoreSource", "load_run", "stats_from_dict", "stats_to_dict"]


class StoreSource:
    """A run's results, read lazily from the store."""

    def __init__(
        self,
        store: Store,
        run_id: str,
        names: list[str],
        leaves: list[str] | None = None,
        only: bool = False,
    ) -> None:
        self.store, self.run_id, self.names = store, run_id, names
        self.leaves = leaves or names[-1:]
        self._leaf = names.index(self.leaves[0])
        self._only = only  # a subset: failures of its leaf alone

    def step(self, name: str) -> StepResults:
        index = self.names.index(name)
        return StepResults(name, list(self.store.results(self.run_id, index)))

    def for_leaf(self, name: str) -> StoreSource:
        return StoreSource(self.store, self.run_id, self.names, [name], only=True)

    def final_ok(self) -> Iterator[TaskResult]:
        return self.store.results(self.run_id, self._leaf, ok_only=True)

    def final_ok_results(self) -> Sequence[TaskResult]:
        return StoredResults(self.store, self.run_id, self._leaf, ok_only=True)

    def failed(self) -> Sequence[TaskResult]:
        step = self._leaf if self._only else None
        return StoredResults(self.store, self.run_id, step, failed_only=True)

    def arrow_file(self) -> Path | None:
        subset = f".{self.leaves[0]}" if self._only else ""
        return self.store.path.parent / "datasets" / f"{self.run_id}{subset}.arrow"


def load_run(id_or_name: str, store: str | Path | None = None) -> PipelineResult:
    """A past run's result, from the store alone: nothing is sent."""
    opened = Store(store)
    record = opened.find_run(id_or_name)
    leaves = record.config.get("graph", {}).get("leaves")  # absent: a chain, one leaf
    source = StoreSource(opened, record.id, record.steps, leaves)
    functions = frozenset(record.config.get("function_steps", ()))
    result = PipelineResult(
        source, stats=stats_from_dict(record.stats), run_name=record.name, value_columns=functions
    )
    result._run_graph = graph_of_record(record.steps, record.config)
    result._run_config = record.config
    return result


def stats_to_dict(stats: RunStats) -> dict[str, Any]:
    return dataclasses.asdict(stats)


def stats_from_dict(data: dict[str, Any]) -> RunStats:
    if not data:
        return RunStats({}, {}, Usage(), 0, 0.0)
    usage = Usage(**data["usage"])
    by_step = {k: UsageTotals(**v) for k, v in data.get("usage_by_step", {}).items()}
    by_model = {k: UsageTotals(**v) for k, v in data.get("usage_by_model", {}).items()}
    return RunStats(
        data["tasks"],
        data["steps"],
        usage,
        data["requests"],
        data["wall_time_s"],
        data.get("cost", 0.0),
        by_step,
        by_model,
        data.get("stopped"),
        from_store=data.get("from_store", 0),
        from_runs=data.get("from_runs", {}),
        finish_reasons=data.get("finish_reasons", {}),
        tokens_estimated=data.get("tokens_estimated", 0),
    )
