"""What a pipeline run returns: rows, per-step results, failures, stats, datasets, files."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from fanflow._exceptions import ConfigurationError
from fanflow.adapters import Usage
from fanflow.engine._accounting import UsageTotals
from fanflow.steps import TaskResult, TaskStatus

if TYPE_CHECKING:
    import datasets

__all__ = ["PipelineResult", "RunStats", "StepResults"]

LINEAGE_COLUMN = "_lineage"


@dataclass(slots=True)
class StepResults:
    """Every task of one step, whatever its status."""

    name: str
    results: list[TaskResult] = field(default_factory=list)

    @property
    def inputs(self) -> list[Mapping[str, Any]]:
        """The input fields each task was created from."""
        return [r.inputs for r in self.results]

    @property
    def ok(self) -> list[TaskResult]:
        return [r for r in self.results if r.ok]

    @property
    def failures(self) -> list[TaskResult]:
        return [r for r in self.results if not r.ok]

    @property
    def output(self) -> list[TaskResult]:
        """The ok results (Dria's `step.output`)."""
        return self.ok


@dataclass(frozen=True, slots=True)
class RunStats:
    """Counts, tokens, requests (retries included), cost and speed of one run.

    `usage_by_step` and `usage_by_model` break the totals down; `cost` is 0.0 without
    a price table. `stopped` says why dispatching stopped early (a budget), else None.
    """

    tasks: dict[str, int]
    steps: dict[str, dict[str, int]]
    usage: Usage
    requests: int
    wall_time_s: float
    cost: float = 0.0
    usage_by_step: dict[str, UsageTotals] = field(default_factory=dict)
    usage_by_model: dict[str, UsageTotals] = field(default_factory=dict)
    stopped: str | None = None

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.wall_time_s if self.wall_time_s > 0 else 0.0


class PipelineResult:
    """The outcome of `Pipeline.execute()`."""

    def __init__(
        self, steps: list[StepResults], wall_time_s: float, stopped: str | None = None
    ) -> None:
        self.steps: dict[str, StepResults] = {s.name: s for s in steps}
        self._final = steps[-1]
        self.stats = _stats(steps, wall_time_s, stopped)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """One dict per ok final-step result: its value and all its ancestors' fields."""
        return [{**r.row(), LINEAGE_COLUMN: list(r.lineage)} for r in self._final.ok]

    @property
    def failures(self) -> list[TaskResult]:
        """Every task, of any step, that did not end ok, with its reason in `.error`."""
        return [r for step in self.steps.values() for r in step.failures]

    def to_dataset(self) -> datasets.Dataset:
        """The rows as a Hugging Face `datasets.Dataset`."""
        import datasets

        rows = self.rows
        # from_list takes its columns from the first row only and drops the rest; rows may
        # differ (scattered JSON objects, several input files), so use every column.
        columns = dict.fromkeys(column for row in rows for column in row)
        return datasets.Dataset.from_dict({c: [row.get(c) for row in rows] for c in columns})

    def save(self, path: str | Path) -> Path:
        """Write the rows to `.jsonl` or `.parquet`; returns the path written."""
        target = Path(path)
        suffix = target.suffix.lower()
        if suffix not in (".jsonl", ".parquet"):
            raise ConfigurationError(f"cannot save to {target.name!r}; use .jsonl or .parquet")
        target.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".jsonl":
            with target.open("wb") as handle:
                for row in self.rows:
                    handle.write(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE))
        else:
            self.to_dataset().to_parquet(str(target))
        return target

    def __repr__(self) -> str:
        return f"PipelineResult(rows={len(self._final.ok)}, tasks={self.stats.tasks})"


def _stats(steps: list[StepResults], wall_time_s: float, stopped: str | None) -> RunStats:
    total: Counter[str] = Counter({status.value: 0 for status in TaskStatus})
    per_step: dict[str, dict[str, int]] = {}
    by_step: dict[str, UsageTotals] = {}
    by_model: dict[str, UsageTotals] = {}
    run = UsageTotals()
    for step in steps:
        counts = Counter(r.status.value for r in step.results)
        per_step[step.name] = dict(counts)
        total.update(counts)
        step_totals = by_step.setdefault(step.name, UsageTotals())
        for result in step.results:
            model = by_model.setdefault(result.model or "(default)", UsageTotals())
            for totals in (run, step_totals, model):
                totals.add(result.usage, result.requests, result.cost)
    usage = Usage(run.prompt_tokens, run.completion_tokens)
    return RunStats(
        dict(total),
        per_step,
        usage,
        run.requests,
        wall_time_s,
        run.cost,
        by_step,
        by_model,
        stopped,
    )
