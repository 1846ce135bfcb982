"""`PipelineBuilder`, `Pipeline` and `PipelineConfig`: chain steps, run them, get rows.

```python
builder = PipelineBuilder(PipelineConfig(concurrency=64), network=adapter)
builder.input(topic="physics")
builder << Subtopics().scatter() << Questions() << Answers()
result = await builder.build().execute()
```

`execute()` is the one implementation; `run()` is a thin synchronous wrapper for scripts.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Iterator, Mapping
from itertools import chain, islice
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from typing_extensions import Self

from fanflow._exceptions import ConfigurationError, ExecutionError
from fanflow.adapters import LLMAdapter, RetryPolicy, with_defaults
from fanflow.engine.pipeline._accounting import Budget
from fanflow.engine.pipeline._config_errors import config_error
from fanflow.engine.pipeline._dispatcher import Dispatcher, DispatchSettings
from fanflow.engine.pipeline._drain import run_draining
from fanflow.engine.pipeline._gc import relaxed_gc
from fanflow.engine.pipeline._graph import Route, StepGraph
from fanflow.engine.pipeline._input_options import InputOptions, check_renames, with_options
from fanflow.engine.pipeline._input_rows import Rooted
from fanflow.engine.pipeline._inputs import RowSource, UnusableRow, source_from
from fanflow.engine.pipeline._join_plan import plan_graph
from fanflow.engine.pipeline._mix import Mix
from fanflow.engine.pipeline._network_checks import check_network, check_step_models
from fanflow.engine.pipeline._plan import StepPlan
from fanflow.engine.pipeline._preflight import preflight
from fanflow.engine.pipeline._progress import ProgressDisplay
from fanflow.engine.pipeline._ray_runner import RayRunner, ray_launcher
from fanflow.engine.pipeline._results import PipelineResult
from fanflow.engine.pipeline._reuse import describe_network
from fanflow.engine.pipeline._run_graph import graph_of_plans, recorded_flows
from fanflow.engine.pipeline._session import RunSession
from fanflow.engine.pipeline._tracing import traced_run
from fanflow.engine.pipeline._work import Work
from fanflow.steps import StepTemplate, TaskResult

__all__ = ["Pipeline", "PipelineBuilder", "PipelineConfig"]

Replay = Callable[[int, tuple[int, ...]], TaskResult | None]

_Price = Annotated[float, Field(ge=0, allow_inf_nan=False)]
"""US dollars per million tokens: a NaN would break the store, a negative price budgets."""


class PipelineConfig(BaseModel):
    """How a pipeline runs.

    `concurrency`: LLM requests in flight at most (each task runs its workflow's calls one
    after another, so this is also the number of tasks in flight). It has no upper bound
    and a large one costs nothing by itself: a worker starts only when a task is ready
    and no started worker is free, so a run never has more workers than tasks it could
    run at once (3 rows at `concurrency=1_000_000` start a handful). `task_timeout`: seconds
    one task may take, None for no limit. `on_error`: "skip" records a failed task and goes
    on; "raise" stops the run at the first failure. `progress`: a live display on terminals.
    `retry`: how failed requests are retried (429, 5xx, timeouts, connection errors,
    malformed bodies; never other 4xx); None sends each request once. `prices`: US dollars
    per million tokens by model, `{"model": (input, output)}`, for `stats.cost`; each a
    finite number >= 0.
    `max_cost` / `max_tokens_total`: stop dispatching new tasks once the run has spent this
    much; tasks not started then end as skipped, and `stats.stopped` says why.
    `drain`: on the first Ctrl-C, `run()` sends nothing new and waits up to this many
    seconds for the requests in flight, saving their answers, before it stops (a second
    Ctrl-C stops at once); `execute(drain=...)` does the same when it is cancelled.
    `tune_gc`: make Python's garbage collector cheaper while the run lasts (it is
    process-wide: see `engine/pipeline/_gc.py`; restored afterwards). None (the default):
    only `run()`, the entry for scripts, tunes it; `execute()` leaves it alone unless this
    is True, since it may run inside a service or notebook whose process is not fanflow's.
    `store`: the SQLite file that keeps results and run records (None: `FANFLOW_STORE`,
    else `.fanflow/fanflow.db`; False: keep nothing, no resume). `run_name`: the run's
    name in `fanflow.runs()` (default: first step, time and a short tag). `preflight`:
    `build()` calls each step's `create_workflow` once, on the first input row with
    placeholders for what earlier steps give, so a broken step fails the build rather
    than the run after earlier steps were paid for (`engine/pipeline/_preflight.py`);
    False skips it, for steps whose code needs real values from earlier steps.
    `runner`: where `execute()` runs by default: None in this process, a `RayRunner` as
    shards on Ray (`engine/pipeline/_ray_run.py`).

    A bad or unknown setting is a `ConfigurationError` naming it (chaining pydantic's
    `ValidationError`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    def __init__(self, **settings: Any) -> None:
        try:
            super().__init__(**settings)
        except ValidationError as exc:
            raise config_error(exc, "PipelineConfig") from exc

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Self:
        try:
            return super().model_validate(obj, **kwargs)
        except ValidationError as exc:
            raise config_error(exc, "PipelineConfig") from exc

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **kwargs: Any) -> Self:
        try:
            return super().model_validate_json(json_data, **kwargs)
        except ValidationError as exc:
            raise config_error(exc, "PipelineConfig") from exc

    concurrency: int = Field(default=64, ge=1)
    task_timeout: float | None = Field(default=600.0, gt=0)
    on_error: Literal["skip", "raise"] = "skip"
    progress: bool = True
    tune_gc: bool | None = None
    store: str | Path | Literal[False] | None = None
    run_name: str | None = None
    retry: RetryPolicy | None = RetryPolicy()
    prices: dict[str, tuple[_Price, _Price]] | None = None
    max_cost: float | None = Field(default=None, gt=0)
    max_tokens_total: int | None = Field(default=None, gt=0)
    preflight: bool = True
    drain: float = Field(default=5.0, ge=0)
    runner: RayRunner | None = None


class PipelineBuilder:
    """Collects inputs and steps; `build()` checks every binding before anything is sent."""

    def __init__(self, config: PipelineConfig | None = None, network: LLMAdapter | None = None):
        self.config = config or PipelineConfig()
        check_network(network)
        self.network = network
        self._sources: list[RowSource] = []
        self._graph = StepGraph()

    def input(
        self,
        data: Any = None,
        /,
        *,
        columns: Mapping[str, str] | None = None,
        skip: int | None = None,
        limit: int | None = None,
        shuffle: Mapping[str, int] | None = None,
        **row: Any,
    ) -> PipelineBuilder:
        """Add input rows: keywords (one row), a list of dicts, a `datasets` dataset, a Hub
        dataset `"hf://datasets/owner/name"`, a file path/glob or a `fanflow.Mix`.

        With a Hub dataset the keywords go to `datasets.load_dataset` (`split`, `streaming`
        (default True), `name`, `revision`, `data_files`, ...); with a `DatasetDict`, `split`.
        `columns` renames ({"old": "new"}); `shuffle={"seed": 0, "buffer": 1000}` shuffles
        through a buffer of rows; then `skip` and `limit` (rows) apply: to any source. A row
        with a column named columns/skip/limit/shuffle: give it as a dict."""
        if data is None and not row:
            raise ConfigurationError("input() needs rows: input(topic='...') or input(rows)")
        options = InputOptions.checked(columns, skip, limit, shuffle)
        given = data.row_source() if isinstance(data, Mix) else data
        source = source_from(row) if data is None else source_from(given, row)
        source = with_options(source, options)
        if options.columns:
            check_renames(source, options)  # refused here, not row by row in the run
        self._sources.append(source)
        return self

    def add_step(self, step: StepTemplate | list[StepTemplate] | Route) -> PipelineBuilder:
        """After the last step(s) added: one step, a list of branches, or a `Route`."""
        self._graph.add(step)
        return self

    def __lshift__(self, step: StepTemplate | list[StepTemplate] | Route) -> PipelineBuilder:
        return self.add_step(step)

    def connect(self, upstream: StepTemplate, downstream: StepTemplate | Route) -> PipelineBuilder:
        """An edge from a step already in the pipeline (by the step object) to another,
        for graphs that are not a straight line; `<<` is the short form. A `downstream`
        not yet in the pipeline is added by this, off the `<<` chain. A `Route`: edges to
        each of its steps, which `upstream` routes its inputs to."""
        self._graph.connect(upstream, downstream)
        return self

    def build(self) -> Pipeline:
        if self.network is None:
            raise ConfigurationError(
                "the pipeline has no network; pass an adapter: PipelineBuilder(config, network)"
            )
        if not self._sources:
            raise ConfigurationError("the pipeline has no input; call .input(...) first")
        check_network(self.network)
        first_row = self._sources[0].first_row()
        plans = plan_graph(self._graph.topology(), set(first_row))
        check_step_models(plans, self.network)
        if self.config.preflight:
            preflight(plans, first_row)
        return Pipeline(plans, list(self._sources), self.network, self.config)


class Pipeline:
    """A built pipeline: `await execute()` (or `run()` from a script)."""

    def __init__(
        self,
        plans: list[StepPlan],
        sources: list[RowSource],
        network: LLMAdapter,
        config: PipelineConfig,
    ) -> None:
        self.plans = plans
        self.sources = sources
        self._given_network = network  # as the user gave it, for dump()
        self.network = with_defaults(network, config.retry)
        self.config = config

    def dump(self, path: str | Path) -> Path:
        """Write this pipeline to a `.yaml` or `.json` file that `fanflow.load_pipeline`
        and `fanflow run` read back: steps, callbacks, models, inputs, config and the
        network (never an API key). See `engine/pipeline/_file_format.py`."""
        from fanflow.engine.pipeline._file_dump import dump_pipeline  # only when used

        steps = [plan.template for plan in self.plans]
        edges = [(self.plans[up].name, plan.name) for plan in self.plans for up in plan.parents]
        routes = {plan.name: plan.route for plan in self.plans if plan.route is not None}
        given = self._given_network
        return dump_pipeline(path, steps, self.sources, self.config, given, edges, routes)

    async def execute(
        self, use_cache: bool = True, drain: float | None = None, runner: RayRunner | None = None
    ) -> PipelineResult:
        """Run every input row through every step and return the results.

        With a store (the default), every result is saved as it arrives and tasks already
        answered in an earlier run are taken from it, so running the same pipeline again
        resumes; `use_cache=False` sends everything again. `drain`: when this call is
        cancelled, send nothing new but wait up to `drain` seconds for the requests in
        flight and save their answers before raising `CancelledError` (a second
        cancellation stops at once); None (the default) stops at once. `runner`: a
        `RayRunner` runs the rows as shards on Ray (default: `config.runner`).
        """
        runner = runner or self.config.runner
        if runner is not None:  # `_ray_run` (registered by the package: it loads pipelines)
            return await ray_launcher()(self, runner, use_cache)
        return await self._execute(self._rows(), self.config, use_cache=use_cache, drain=drain)

    async def dry_run(self) -> PipelineResult:
        """Run the first usable input row through every step, one task per step."""
        single = self.config.model_copy(update={"concurrency": 1})
        usable = (row for row in self._rows() if not isinstance(row, UnusableRow))
        return await self._execute(islice(usable, 1), single, first_only=True)

    def run(self) -> PipelineResult:
        """`execute()` for scripts; refuses inside a running event loop."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            tune = self.config.tune_gc is not False
            drain = self.config.drain  # Ctrl-C cancels the run: first drain, then stop
            if self.config.runner is not None:
                return asyncio.run(self.execute(drain=drain))
            return asyncio.run(self._execute(self._rows(), self.config, tune_gc=tune, drain=drain))
        raise ExecutionError(
            "Pipeline.run() was called inside a running event loop (a notebook or async "
            "code); use `await pipeline.execute()` there instead"
        )

    def _rows(self) -> Iterator[Mapping[str, Any] | UnusableRow]:
        return chain.from_iterable(source.open() for source in self.sources)

    async def _execute(
        self,
        rows: Iterator[Mapping[str, Any] | UnusableRow | Rooted | Work],
        config: PipelineConfig,
        first_only: bool = False,
        use_cache: bool = True,
        tune_gc: bool | None = None,
        drain: float | None = None,
        shard: bool = False,
        replay: Replay | None = None,
        defer: Callable[[Work], bool] | None = None,
    ) -> PipelineResult:
        names = [plan.name for plan in self.plans]
        session = RunSession.open(
            config.store,
            config.run_name,
            names,
            lambda: (self.fingerprint(), self._recorded(config)),
            use_cache,
            getattr(self.network, "model", None),  # a duck-typed adapter may have none
            [plan.name for plan in self.plans if not plan.children],
        )
        dispatcher = Dispatcher(self.plans, self.network, _settings(config), rows, session.sink)
        if first_only:
            dispatcher.limit_children_to_one()
        dispatcher.hold_whole_step = shard  # a shard of a Ray run (_ray_worker)
        dispatcher.replay = replay  # the driver of a Ray run after its shards (_ray_run)
        dispatcher.defer = defer  # ... and between its parts (_ray_phases)
        display = ProgressDisplay(names, dispatcher.counts, config.progress)
        started = time.perf_counter()
        clock = lambda: (time.perf_counter() - started, dispatcher.stopped)  # noqa: E731
        traced = traced_run(session.name, session.sink.run_id, names)  # OpenTelemetry, if set up
        with (
            traced as dispatcher.tracing,
            session.recording(clock),
            display,
            relaxed_gc(tune_gc or config.tune_gc is True),
        ):
            await _run_with_display(dispatcher, display, drain)
        result = session.result(self._function_steps())
        result.pipeline = self  # described in the card of result.push_to_hub()
        result._run_graph, result._run_config = graph_of_plans(self.plans), self._recorded(config)
        return result

    def _function_steps(self) -> frozenset[str]:
        """Function steps: their row column is the value they returned (`PipelineResult`)."""
        return frozenset(plan.name for plan in self.plans if plan.function is not None)

    def _recorded(self, config: PipelineConfig) -> dict[str, Any]:
        """The run record's config: the settings and the network (never its secrets)."""
        recorded = {**config.model_dump(mode="json"), "network": describe_network(self.network)}
        leaves = [plan.name for plan in self.plans if not plan.children]
        if len(leaves) > 1 or any(len(plan.parents) > 1 for plan in self.plans):
            edges = [[parent, plan.index] for plan in self.plans for parent in plan.parents]
            recorded["graph"] = {"leaves": leaves, "edges": edges}  # for load_run, export
        if flows := recorded_flows(self.plans):
            recorded["flows"] = flows  # for the run report's graph
        if functions := self._function_steps():
            recorded["function_steps"] = sorted(functions)  # for load_run's rows
        return recorded

    def fingerprint(self) -> str:
        """What identifies this pipeline's shape: steps, flows, models, params, inputs."""
        steps = [(type(p.template).__qualname__, p.name, repr(p.template.flow),
                  p.template.models, p.template.workflow_params) for p in self.plans]  # fmt: skip
        inputs = [source.label for source in self.sources]
        shape: tuple[Any, ...] = (steps, inputs)
        if any(p.next is None and p.children for p in self.plans):  # not a chain
            shape += ([(p.parents, repr(p.route)) for p in self.plans],)
        return hashlib.sha256(repr(shape).encode()).hexdigest()[:16]


def _settings(config: PipelineConfig) -> DispatchSettings:
    limited = config.max_cost is not None or config.max_tokens_total is not None
    return DispatchSettings(
        concurrency=config.concurrency,
        task_timeout=config.task_timeout,
        on_error=config.on_error,
        budget=Budget(config.max_cost, config.max_tokens_total) if limited else None,
        prices=config.prices,
    )


async def _run_with_display(
    dispatcher: Dispatcher, display: ProgressDisplay, drain: float | None
) -> None:
    try:
        async with anyio.create_task_group() as group:
            if display.enabled:
                group.start_soon(display.refresh_forever)
            await run_draining(dispatcher.run, dispatcher.stop, drain)
            group.cancel_scope.cancel()
    except BaseException as exc:
        error = _single(exc)
        raise error from error.__cause__  # hides the groups, keeps what the error chains


def _single(exc: BaseException) -> BaseException:
    """The one real error inside (nested) exception groups, else the group itself.

    The same error raised by several workers at once (a store that cannot write fails
    every pending save) counts as one.
    """
    inner = getattr(exc, "exceptions", None)
    if inner is None:
        return exc
    errors = [_single(error) for error in inner]
    first = errors[0]
    if all(type(error) is type(first) and str(error) == str(first) for error in errors):
        return first
    return exc
