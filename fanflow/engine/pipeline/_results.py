"""What a pipeline run returns: rows, per-step results, failures, stats, datasets, files."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from fanflow._exceptions import ConfigurationError
from fanflow.adapters import Usage
from fanflow.engine.pipeline._accounting import UsageTotals
from fanflow.engine.pipeline._lazy import MappedSequence
from fanflow.steps import TaskResult, TaskStatus

if TYPE_CHECKING:
    import datasets

    from fanflow.engine.pipeline._card import Dumpable
    from fanflow.report import ReportInput, RunGraph

__all__ = [
    "MemorySource",
    "PipelineResult",
    "ResultSource",
    "RunStats",
    "StatsCollector",
    "StepResults",
]

LINEAGE_COLUMN = "_lineage"
FILTERED = TaskStatus.FILTERED


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
        """Tasks that did not end ok, except those filtered out (not failures)."""
        return [r for r in self.results if not r.ok and r.status is not TaskStatus.FILTERED]

    @property
    def filtered(self) -> list[TaskResult]:
        """Tasks a function step filtered out (it returned None for them)."""
        return [r for r in self.results if r.status is TaskStatus.FILTERED]

    @property
    def output(self) -> list[TaskResult]:
        """The ok results (Dria's `step.output`)."""
        return self.ok


@dataclass(frozen=True, slots=True)
class RunStats:
    """Counts, tokens, requests (retries included), cost and speed of one run.

    `usage_by_step` and `usage_by_model` break the totals down; `cost` is 0.0 without
    a price table. `stopped` says why dispatching stopped early (a budget), else None.
    `finish_reasons` counts the tasks whose answers ended otherwise than "stop", by finish
    reason (`TaskResult.finish_reason`); `truncated` is the count of "length", answers cut
    off at max_tokens.
    `from_store`: tasks answered from the store instead of sent (resumed, or shared with
    an identical run at the same time); `from_runs`: those by the name of the run that
    answered them.
    `tokens_estimated` counts the tasks whose tokens were estimated from their text,
    because the endpoint reported only `total_tokens` or no usage.
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
    from_store: int = 0
    from_runs: dict[str, int] = field(default_factory=dict)
    finish_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def truncated(self) -> int:
        """Tasks whose answer was cut off at max_tokens (finish reason "length")."""
        return self.finish_reasons.get("length", 0)

    tokens_estimated: int = 0

    @property
    def filtered(self) -> int:
        """Tasks that function steps filtered out (returned None for): not failures."""
        return self.tasks.get(TaskStatus.FILTERED.value, 0)

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.wall_time_s if self.wall_time_s > 0 else 0.0


class ResultSource(Protocol):
    """Where a `PipelineResult` reads tasks from: memory, or the store (lazily)."""

    names: list[str]
    leaves: list[str]  # the steps whose results are rows: one, or several (subsets)

    def step(self, name: str) -> StepResults: ...

    def for_leaf(self, name: str) -> ResultSource:
        """The same results with one leaf's rows as the rows, and that step's failures."""
        ...

    def final_ok(self) -> Iterator[TaskResult]: ...

    def final_ok_results(self) -> Sequence[TaskResult]:
        """The ok results of the final step (read when used, for the store)."""
        ...

    def failed(self) -> Sequence[TaskResult]:
        """Every result of every step that did not end ok, in step then lineage order."""
        ...

    def arrow_file(self) -> Path | None:
        """Where `to_dataset()` writes its Arrow file; None: build the dataset in memory."""
        ...


class MemorySource:
    """Results held in lists (runs without a store, and tests)."""

    def __init__(
        self, steps: list[StepResults], leaves: list[str] | None = None, only: bool = False
    ) -> None:
        self.names = [s.name for s in steps]
        self.leaves = leaves or self.names[-1:]
        self._steps = {s.name: s for s in steps}
        self._only = only  # a subset: failures of its leaf alone

    def step(self, name: str) -> StepResults:
        return self._steps[name]

    def for_leaf(self, name: str) -> MemorySource:
        return MemorySource(list(self._steps.values()), [name], only=True)

    def final_ok(self) -> Iterator[TaskResult]:
        return iter(self._steps[self.leaves[0]].ok)

    def final_ok_results(self) -> Sequence[TaskResult]:
        return self._steps[self.leaves[0]].ok

    def failed(self) -> list[TaskResult]:
        names = self.leaves if self._only else self.names
        return [r for name in names for r in self._steps[name].failures]

    def arrow_file(self) -> Path | None:
        return None


class PipelineResult:
    """The outcome of `Pipeline.execute()` (or of `fanflow.load_run`).

    Built from a list of `StepResults`, or from a `ResultSource` and its `stats`; a
    store-backed result reads steps and rows from disk only when asked, so a large run
    never has to fit in memory: `rows` and `failures` are sequences read from the store
    as they are used (`len()`, iteration, indexing and slices work as on a list),
    `iter_rows()`, `to_dataset()` and `save()` stream.
    """

    def __init__(
        self,
        steps: list[StepResults] | ResultSource,
        wall_time_s: float = 0.0,
        stopped: str | None = None,
        *,
        stats: RunStats | None = None,
        run_name: str | None = None,
        value_columns: frozenset[str] = frozenset(),
    ) -> None:
        if isinstance(steps, list):
            collector = StatsCollector()
            for step in steps:
                collector.add_step(step.name)
                for result in step.results:
                    collector.add(result)
            stats = stats or collector.finish(wall_time_s, stopped)
            steps = MemorySource(steps)
        if stats is None:
            raise ConfigurationError("a PipelineResult over a ResultSource needs its stats")
        self._source = steps
        self.stats = stats
        # Steps whose column is their parsed value, not the text: function steps, whose
        # answer is the dict (or list) they returned, stored as JSON text.
        self._value_columns = value_columns
        self.run_name = run_name
        self._steps: dict[str, StepResults] | None = None
        self.pipeline: Dumpable | None = None  # what made it (set by execute): for cards
        # the pipeline's shape and recorded config, for `report()` (set by the engine)
        self._run_graph: RunGraph | None = None
        self._run_config: Mapping[str, Any] | None = None

    @property
    def steps(self) -> dict[str, StepResults]:
        """Every task of every step, by step name (read from the store on first use)."""
        if self._steps is None:
            self._steps = {name: self._source.step(name) for name in self._source.names}
        return self._steps

    @property
    def subsets(self) -> dict[str, PipelineResult]:
        """Each leaf step's results by its name (rows, failures, `to_dataset()`,
        `save()`): one entry per leaf, several where the pipeline ends in branches."""
        subsets = {
            leaf: PipelineResult(
                self._source.for_leaf(leaf),
                stats=self.stats,
                run_name=self.run_name,
                value_columns=self._value_columns,
            )
            for leaf in self._source.leaves
        }
        for subset in subsets.values():
            subset.pipeline = self.pipeline
            subset._run_graph, subset._run_config = self._run_graph, self._run_config
        return subsets

    def _single_leaf(self, what: str) -> None:
        leaves = self._source.leaves
        if len(leaves) > 1:
            raise ConfigurationError(
                f"this pipeline ends in {len(leaves)} steps ({', '.join(leaves)}), so it has "
                f"no single {what}; use result.subsets[name] for one of them, e.g. "
                f"result.subsets[{leaves[0]!r}].{what}"
            )

    def iter_rows(self) -> Iterator[dict[str, Any]]:
        """The rows one at a time: one per ok final-step result, with its lineage."""
        self._single_leaf("iter_rows()")
        return map(self._row_of, self._source.final_ok())

    @property
    def rows(self) -> Sequence[dict[str, Any]]:
        """One dict per ok final-step result: its value and all its ancestors' fields.

        A run kept in memory (`store=False`) gives a list; a store-backed run a sequence
        read from the store as it is used: iterate it, index or slice it, take its
        `len()`; `list(result.rows)` for a list. Several leaves: see `subsets`."""
        self._single_leaf("rows")
        results = self._source.final_ok_results()
        if isinstance(results, list):
            return [self._row_of(result) for result in results]
        return MappedSequence(results, self._row_of)

    @property
    def failures(self) -> Sequence[TaskResult]:
        """Every task, of any step, that did not end ok, with its reason in `.error`
        (read from the store as it is used, for a store-backed run)."""
        return self._source.failed()

    def to_dataset(self) -> datasets.Dataset | datasets.DatasetDict:
        """The rows as a Hugging Face `datasets.Dataset`, built in Arrow batches.

        Rows go to Arrow a batch at a time, so no Python list of every row is ever held;
        batches with different columns (scattered JSON objects, several input files) are
        merged with nulls where a row lacks a column. For a store-backed run the batches
        go to an Arrow file in a `datasets` folder beside the store (one per run,
        replaced when written again), which the dataset memory-maps.
        """
        import datasets

        from fanflow.engine.pipeline._arrow import write_arrow_file  # imports pyarrow

        if len(self._source.leaves) > 1:  # one split per leaf
            splits = {name: subset.to_dataset() for name, subset in self.subsets.items()}
            return datasets.DatasetDict(splits)
        target = self._source.arrow_file()
        if target is None:
            return self._dataset_in_memory()
        target.parent.mkdir(parents=True, exist_ok=True)
        if write_arrow_file(self.iter_rows, target) == 0:
            return datasets.Dataset.from_dict({})
        return datasets.Dataset.from_file(str(target))

    def _dataset_in_memory(self) -> datasets.Dataset:
        import datasets
        import pyarrow as pa

        from fanflow.engine.pipeline._arrow import arrow_tables

        tables = list(arrow_tables(self.iter_rows()))
        if not tables:
            return datasets.Dataset.from_dict({})
        return datasets.Dataset(pa.concat_tables(tables, promote_options="default"))

    def save(
        self,
        path: str | Path,
        format: str | None = None,
        max_shard_size: int | str = "500MB",
        compression: str | None = "zstd",
        overwrite: bool = False,
    ) -> Path:
        """Write the rows to Parquet, Arrow or JSONL, a batch at a time; the path written.

        `format` ("parquet", "arrow" or "jsonl") defaults to the suffix: `.parquet`,
        `.arrow` (the Arrow stream `datasets` reads), `.jsonl`, `.jsonl.gz` (gzip) or
        `.jsonl.zst` (zstd); Parquet for a path without one. `compression` is the
        Parquet or Arrow codec ("zstd"; "none" for none); JSONL is compressed as its
        name says. An existing file is an error unless `overwrite=True`; the rows go to
        a temporary name in the same folder, renamed at the end, so a crash never leaves
        half a file under `path`. The rows go in shards of at most `max_shard_size`: a
        directory of `data-00000-of-0000N.<ext>` files (`path` without its suffixes)
        when they do not fit in one, or when `path` has no suffix."""
        self._single_leaf("save(path)")
        from fanflow.engine.pipeline._save import save_rows

        target = Path(path)
        return save_rows(self.iter_rows, target, format, overwrite, compression, max_shard_size)

    def to_format(
        self,
        kind: str,
        *,
        prompt: str | None = None,
        completion: str | None = None,
        chosen: str | None = None,
        rejected: str | None = None,
        system: str | None = None,
        conversational: bool = False,
        on_invalid: str = "raise",
    ) -> datasets.Dataset:
        """The rows in a trainer's shape (TRL): "sft" (`messages`), "prompt_completion"
        (`prompt`, `completion`) or "preference" (`prompt`, `chosen`, `rejected`).

        Columns not named are inferred where unambiguous: the prompt is the final step's
        one text input, the completion the final step, chosen/rejected columns of those
        names; else a ConfigurationError asks for them. A row
        that cannot be mapped (missing or non-text value) is a ConfigurationError naming
        it, or with `on_invalid="skip"` left out with a warning. Plain text by default;
        `conversational=True` gives lists of {"role", "content"} messages."""
        self._single_leaf("to_format()")
        from fanflow.engine.pipeline._formats import to_format

        named = {"prompt": prompt, "completion": completion, "chosen": chosen}
        named |= {"rejected": rejected, "system": system}
        leaf, inputs = self._source.leaves[0], self._leaf_text_inputs()
        return to_format(self.iter_rows(), kind, leaf, named, conversational, on_invalid, inputs)

    def _leaf_text_inputs(self) -> list[str]:
        """The final step's text inputs (where `to_format` looks for the prompt first)."""
        first = next(iter(self.steps[self._source.leaves[0]].results), None)
        return [] if first is None else [k for k, v in first.inputs.items() if isinstance(v, str)]

    def push_to_hub(
        self,
        repo_id: str,
        private: bool = True,
        token: str | None = None,
        subsets: bool = True,
        *,
        pipeline: Dumpable | None = None,
        commit_message: str | None = None,
        max_shard_size: int | str | None = "500MB",
    ) -> str:
        """Push the rows to the Hugging Face Hub as a Parquet dataset with a dataset card;
        the repository's URL.

        Several final steps: each is a config (`load_dataset(repo_id, step)`) with a
        `train` split, the first the default; `subsets=False` makes them splits of one
        config instead. The card (README.md, written last so it describes every config)
        holds the pipeline as YAML (the one that made this result, or `pipeline=`), the
        models with their tokens and cost, task counts and failures per step, fanflow's
        version and the date. `token`: else HF_TOKEN or the saved `hf auth login`; it is
        never written to the card, a log or an error."""
        from fanflow.engine.pipeline._hub import HubPush, push_to_hub

        parts = self.subsets if len(self._source.leaves) > 1 else {self._source.leaves[0]: self}
        leaves = {name: part._to_one_dataset for name, part in parts.items()}
        push = HubPush(repo_id, private, token, subsets, commit_message, max_shard_size)
        return push_to_hub(push, leaves, self.stats, self.run_name, pipeline or self.pipeline)

    def _to_one_dataset(self) -> datasets.Dataset:
        dataset = self.to_dataset()
        assert not isinstance(dataset, dict), "one leaf gives one Dataset"  # for mypy
        return dataset

    def report(self, path: str | Path | None = None) -> Path:
        """Write the run report, one self-contained HTML file (no network needed to open
        it): the pipeline graph with task counts on its edges, a table per step, charts of
        requests and latency, failures grouped by kind, the config without secrets. The
        default path is `report-<run name>.html` in the working directory. The charts need
        matplotlib (`pip install 'fanflow[report]'`)."""
        from fanflow.report import write_report

        default = Path.cwd() / f"report-{self.run_name or 'run'}.html"
        target = Path(path) if path is not None else default
        return write_report(target, self._report_input())

    def _repr_html_(self) -> str:
        """Jupyter's view: the step table, totals and the first rows (`fanflow.report`)."""
        from fanflow.report import summary_html

        return summary_html(self._report_input())

    def _report_input(self) -> ReportInput:
        from fanflow.report import ReportInput, RunGraph, StepTotals

        stats, source = self.stats, self._source
        totals = {}
        for name in source.names:  # from the stats: the summary reads no task
            used = stats.usage_by_step.get(name) or UsageTotals()
            counts = stats.steps.get(name, {})
            totals[name] = StepTotals(
                counts, used.prompt_tokens, used.completion_tokens, used.requests, used.cost
            )
        single = len(source.leaves) == 1
        return ReportInput(
            name=self.run_name or "run",
            graph=self._run_graph or RunGraph.chain(source.names),
            step_results=lambda name: source.step(name).results,
            first_rows=lambda n: [self._row_of(r) for r in islice(source.final_ok(), n)],
            totals=totals,
            wall_time_s=stats.wall_time_s,
            requests=stats.requests,
            cost=stats.cost,
            stopped=stats.stopped,
            config=self._run_config,
            row_count=stats.steps.get(source.leaves[0], {}).get("ok", 0) if single else None,
        )

    def __repr__(self) -> str:
        ok = sum(self.stats.steps.get(leaf, {}).get("ok", 0) for leaf in self._source.leaves)
        return f"PipelineResult(rows={ok}, tasks={self.stats.tasks})"

    def _row_of(self, result: TaskResult) -> dict[str, Any]:
        row = {**result.row(), LINEAGE_COLUMN: list(result.lineage)}
        if result.step in self._value_columns:
            row[result.step] = result.value
        return row


# A dict lookup, not `status.value` (an enum property, slower) once per result.
_STATUS_NAMES = {status: status.value for status in TaskStatus}


class StatsCollector:
    """Run statistics kept up to date one result at a time (no list of results needed)."""

    def __init__(self) -> None:
        # "filtered" (function steps) is counted once it happens: runs without one keep
        # the four statuses they always had.
        self.tasks: Counter[str] = Counter({s.value: 0 for s in TaskStatus if s is not FILTERED})
        self.steps: dict[str, Counter[str]] = {}
        self.by_step: dict[str, UsageTotals] = {}
        self.by_model: dict[str, UsageTotals] = {}
        self.run = UsageTotals()
        self.finish_reasons: Counter[str] = Counter()

    def add_step(self, name: str) -> None:
        self.steps.setdefault(name, Counter())
        self.by_step.setdefault(name, UsageTotals())

    def add(self, result: TaskResult) -> None:
        status, name = _STATUS_NAMES[result.status], result.step
        self.tasks[status] += 1
        # get-or-create by hand: setdefault would build a Counter and two totals per result
        counts = self.steps.get(name)
        if counts is None:
            counts = self.steps[name] = Counter()
        counts[status] += 1
        step = self.by_step.get(name)
        if step is None:
            step = self.by_step[name] = UsageTotals()
        model_name = result.model or "(default)"
        model = self.by_model.get(model_name)
        if model is None:
            model = self.by_model[model_name] = UsageTotals()
        usage, requests, cost = result.usage, result.requests, result.cost
        self.run.add(usage, requests, cost)
        step.add(usage, requests, cost)
        model.add(usage, requests, cost)
        reason = result.finish_reason
        if reason is not None and reason != "stop":
            self.finish_reasons[reason] += 1

    def finish(self, wall_time_s: float, stopped: str | None) -> RunStats:
        run = self.run
        return RunStats(
            dict(self.tasks),
            {name: dict(counts) for name, counts in self.steps.items()},
            Usage(run.prompt_tokens, run.completion_tokens),
            run.requests,
            wall_time_s,
            run.cost,
            self.by_step,
            self.by_model,
            stopped,
            finish_reasons=dict(self.finish_reasons),
            tokens_estimated=run.estimated,
        )
