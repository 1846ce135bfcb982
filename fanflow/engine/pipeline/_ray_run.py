"""The driver of a sharded run: `execute(runner=RayRunner(...))` (see `_ray_runner`).

1. The pipeline becomes its document (`Pipeline.dump`'s content, `_file_dump`): steps by
   import path, the network as adapter classes, URLs and models. A pipeline that cannot be
   written to a file cannot run on Ray: the dump's `ConfigurationError` says which part.
   The document holds no key (checked as for a file); workers read keys from their
   environment (`_ray_worker`). Every limit in it is divided among the shards
   (`_ray_shards.divide_limits`), and so is `concurrency`.
2. Input rows go to shards by a stable hash (`_ray_shards.shard_of`) and keep their
   index in the whole input, so lineages, routes and seeds are those of a local run.
3. Each shard is a Ray task (`_ray_worker.run_shard`) writing its own store file,
   `<store folder>/shards/<run name or pipeline fingerprint>/shard-I-of-N.db`: the same
   path on every run of the same pipeline, so a rerun (or Ray's retry of a shard whose
   worker died) resumes from it. On a cluster that folder must be on a filesystem every
   node shares. With `store=False` the shard files go to a temporary folder, removed at
   the end (no resume).
4. As each shard finishes, the driver copies its results into the driver's store under
   the driver's run id (`fanflow.store.copy_results`) and sums the shards' statistics;
   the result reads from the driver's store as a local run's does.
5. A barrier over a whole step (`aggregate(by="all")`, `@step(group="all")`, a custom
   callback) cannot be split: it runs in the driver, between sharded parts
   (`_ray_phases`). Shards run every task up to it; the driver replays their results (ok
   or failed: nothing is sent again) in memory, runs the barrier, and sends the tasks it
   creates to the shards again, split by a stable hash of the lineage the barrier gave
   each (so a subtree, joins included, stays in one shard); they run down to the next
   barrier, if any, and so on: any number of barriers in sequence. Fewer such tasks than
   shards (one, after `aggregate(by="all")`) run alone, and their children are spread in
   the next part. Part P > 0 of shard I writes `shard-I-of-N-part-P.db` beside the first
   part's file (resumed the same way). The driver sends no request of its own (unless a
   shard could not save a task: the same tasks released twice run in the driver): a last
   pass over its store replays every shard's task and gives the result. Each part costs
   the driver one read of the input and one replay of every result so far, held in
   memory meanwhile; the progress display shows each part's shards in turn.

A local Ray (`address=None`) is started here unless this process already has one, and
shut down at the end if it was started here. Shard tasks ask for a quarter of a CPU (they
wait on the network), so more shards than CPUs run at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from fanflow._exceptions import ConfigurationError, ExecutionError, FanflowError
from fanflow._redact import get_logger
from fanflow.engine.pipeline._file_dump import _refuse_secrets, pipeline_document, plain
from fanflow.engine.pipeline._history import StoreSource, stats_from_dict, stats_to_dict
from fanflow.engine.pipeline._input_rows import UnusableRow
from fanflow.engine.pipeline._ray_merge import sum_stats
from fanflow.engine.pipeline._ray_phases import final_pass, seeds_after_barrier, split_seeds
from fanflow.engine.pipeline._ray_progress import ShardProgress
from fanflow.engine.pipeline._ray_runner import RayRunner
from fanflow.engine.pipeline._ray_shards import divide_config, divide_limits, row_shard, shards_for
from fanflow.engine.pipeline._ray_worker import ShardInput, ShardJob, ShardOutcome, run_shard
from fanflow.engine.pipeline._results import PipelineResult, StepResults
from fanflow.engine.pipeline._run_graph import graph_of_plans
from fanflow.store import Store, copy_results, default_store_path, new_run_identity

__all__ = ["SHARD_CPUS", "run_on_ray", "shard_document"]

logger = get_logger("fanflow.ray")

# Each shard's job, its rows (None: it reads them itself) and the progress display.
Shards = tuple[list[ShardJob], list[list[ShardInput] | None], ShardProgress]
"""Each shard's job, its rows, and the display of their progress."""

SHARD_CPUS = 0.25
"""CPUs a shard task asks Ray for: shards wait on the network, so several share a CPU."""


async def run_on_ray(pipeline: Any, runner: RayRunner, use_cache: bool) -> PipelineResult:
    """Run `pipeline` (a `Pipeline`) as `runner.shards` Ray tasks; one merged result."""
    started = time.perf_counter()
    config = pipeline.config
    shards = shards_for(runner.shards, config.concurrency)
    barrier = _whole_step_barrier(pipeline.plans)
    document = shard_document(pipeline, shards)
    parts: list[list[ShardInput] | None]
    if runner.read_inputs == "workers":  # each shard reads the files and keeps its rows
        document["inputs"] = worker_inputs(pipeline.sources)
        parts, rows = [None] * shards, _known_length(pipeline.sources)
    else:
        split = _split(pipeline._rows(), shards)
        parts, rows = list(split), sum(map(len, split))
    temporary = Path(tempfile.mkdtemp(prefix="fanflow-shards-")) if config.store is False else None
    try:
        folder = _shard_folder(pipeline, temporary)
        jobs = _jobs(document, folder, shards, use_cache, barrier)
        names = [plan.name for plan in pipeline.plans]
        progress = ShardProgress(names, jobs, rows, config.progress)
        if barrier is None:
            return await _merged_run(pipeline, runner, (jobs, parts, progress), started, temporary)
        first = (jobs, parts, progress)
        return await _run_in_parts(pipeline, runner, first, document, folder, use_cache)
    finally:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)


def shard_document(pipeline: Any, shards: int) -> dict[str, Any]:
    """The pipeline as the shards get it: its document, limits divided, no key, no runner."""
    steps = [plan.template for plan in pipeline.plans]
    edges = [(pipeline.plans[up].name, plan.name) for plan in pipeline.plans for up in plan.parents]
    routes = {plan.name: plan.route for plan in pipeline.plans if plan.route is not None}
    network = pipeline._given_network
    where = Path("<ray shard>.json")
    try:
        document = pipeline_document(steps, [], pipeline.config, network, where, edges, routes)
        # The columns the driver planned with (the shard's own rows come separately).
        first = plain(dict(pipeline.sources[0].first_row()), "input 0: first row")
    except ConfigurationError as exc:
        raise exc.with_context("a pipeline runs on Ray as its pipeline file: ") from None
    if document["network"] is None:
        raise ConfigurationError(
            f"a pipeline runs on Ray as its pipeline file, and its network "
            f"({type(network).__name__}) cannot be written to one; use the HTTP adapters "
            "(OpenAI-compatible, Ollama, Anthropic, Batch API), EndpointPool, RateLimiter, "
            "RetryingAdapter or a MockAdapter with an importable handler"
        )
    _refuse_secrets(document)
    document["inputs"] = [{"rows": [first]}]
    document["network"] = divide_limits(document["network"], shards)
    document["config"] = divide_config(document["config"], shards)
    # No runner (a shard runs here), no display, no preflight (the driver's build ran it).
    document["config"].update(runner=None, progress=False, preflight=False)
    return document


def _whole_step_barrier(plans: list[Any]) -> str | None:
    """The first step whose callback gathers the whole step, if any."""
    for plan in plans:
        callback = plan.callback
        if callback is not None and callback.is_barrier and callback.group_by == "all":
            return str(plan.name)
    return None


def _shard_folder(pipeline: Any, temporary: Path | None) -> Path:
    """Where the shards' store files are: beside the driver's store, by run name (else
    the pipeline's fingerprint), so running the same pipeline again finds them."""
    if temporary is not None:
        return temporary
    store = pipeline.config.store
    path = Path(store) if store is not None else default_store_path()
    label = pipeline.config.run_name or pipeline.fingerprint()
    return path.expanduser().absolute().parent / "shards" / re.sub(r"[^\w.-]", "_", label)


def _jobs(
    document: dict[str, Any],
    folder: Path,
    shards: int,
    use_cache: bool,
    barrier: str | None,
    part: int = 0,
    seeds_only: bool = False,
) -> list[ShardJob]:
    label = folder.name
    jobs = []
    for index in range(shards):
        suffix = f"-part-{part}" if part else ""  # the tasks below the part-th barrier
        store = folder / f"shard-{index}-of-{shards}{suffix}.db"
        name = f"{label}-shard-{index}-of-{shards}{suffix}"
        config = {**document["config"], "store": str(store), "run_name": name}
        text = orjson.dumps({**document, "config": config})
        hold = barrier is not None  # the driver runs the barrier and what follows it
        jobs.append(ShardJob(index, shards, text, str(store), name, use_cache, hold, seeds_only))
    return jobs


def _split(rows: Iterator[Mapping[str, Any] | UnusableRow], shards: int) -> list[list[ShardInput]]:
    """Each shard's rows, with their indices in the whole input."""
    parts: list[list[ShardInput]] = [[] for _ in range(shards)]
    for index, row in enumerate(rows):
        parts[row_shard(row, shards)].append((index, row))
    return parts


def worker_inputs(sources: list[Any]) -> list[dict[str, Any]]:
    """The pipeline's inputs as the shards read them (`read_inputs="workers"`): file
    entries with absolute paths, so a worker's working folder does not matter."""
    entries = []
    for number, source in enumerate(sources):
        entry = source.entry
        if entry is None or "path" not in entry:
            raise ConfigurationError(
                f"RayRunner(read_inputs='workers') needs every input named by path (a "
                f"file, glob or hf:// address), and input {number} ({source.label}) is "
                f"{source.kind}: give it as a file, or leave read_inputs='driver'"
            )
        path = str(entry["path"])
        entries.append({**entry, "path": path if "://" in path else str(Path(path).absolute())})
    return entries


def _known_length(sources: list[Any]) -> int:
    """The rows in all, for the progress display, when every source knows it (else 0)."""
    lengths = [source.length for source in sources]
    return 0 if None in lengths else sum(lengths)


async def _merged_run(
    pipeline: Any,
    runner: RayRunner,
    shards: Shards,
    started: float,
    temporary: Path | None,
) -> PipelineResult:
    """Shards run everything; their results are copied into the driver's store."""
    config = pipeline.config
    names = [plan.name for plan in pipeline.plans]
    leaves = [plan.name for plan in pipeline.plans if not plan.children]
    store = Store(temporary / "driver.db" if temporary is not None else config.store)
    run_id, name = new_run_identity(config.run_name, names[0])
    recorded = pipeline._recorded(config)
    store.start_run(run_id, name, pipeline.fingerprint(), recorded, names)
    status, stats = "failed", sum_stats([], 0.0)
    try:
        outcomes = await _run_shards(runner, shards, (store.path, run_id))
        stats = sum_stats([stats_from_dict(o.stats) for o in outcomes], _since(started))
        status = "ok"
    except BaseException as exc:
        interrupted = isinstance(exc, (KeyboardInterrupt, asyncio.CancelledError))
        status = "interrupted" if interrupted else "failed"
        raise
    finally:
        store.finish_run(run_id, status, stats_to_dict(stats))
    source = StoreSource(store, run_id, names, leaves)
    functions = pipeline._function_steps()
    if temporary is not None:  # store=False: kept in memory, as a local run's are
        steps = [StepResults(step.name, step.results) for step in map(source.step, names)]
        result = PipelineResult(steps, stats=stats, run_name=name, value_columns=functions)
        store.close()
    else:
        result = PipelineResult(source, stats=stats, run_name=name, value_columns=functions)
    result.pipeline = pipeline
    result._run_graph, result._run_config = graph_of_plans(pipeline.plans), recorded
    return result


async def _run_shards(
    runner: RayRunner, shards: Shards, merge_into: tuple[Path, str] | None
) -> list[ShardOutcome]:
    """Run every shard that has rows, showing their progress; with `merge_into` (store,
    run id), copy each one's results there as it finishes."""
    jobs, parts, progress = shards
    with progress.display:
        follower = asyncio.ensure_future(progress.follow())
        try:
            return await _run_shard_tasks(runner, jobs, parts, merge_into, progress)
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower  # its own error, if it had one, is raised here
            progress.poll()
            progress.display.refresh()


async def _run_shard_tasks(
    runner: RayRunner,
    jobs: list[ShardJob],
    parts: list[list[ShardInput] | None],
    merge_into: tuple[Path, str] | None,
    progress: ShardProgress,
) -> list[ShardOutcome]:
    ray = _import_ray()
    started_here = _start_ray(ray, runner)
    task = ray.remote(run_shard).options(
        num_cpus=SHARD_CPUS, max_retries=runner.max_retries, retry_exceptions=False
    )
    pending: dict[asyncio.Future[Any], tuple[Any, ShardJob]] = {}
    try:
        for job, rows in zip(jobs, parts, strict=True):
            if rows is None or rows:  # None: the shard reads its own rows
                ref = task.remote(job, rows)  # the rows are serialized to Ray here
                pending[asyncio.wrap_future(ref.future())] = (ref, job)
            if rows:
                rows.clear()  # so the driver holds no second copy while the shards run
        total, outcomes = len(pending), []
        while pending:
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for future in done:
                _, job = pending.pop(future)
                outcome = _outcome(future, job)
                outcomes.append(outcome)
                progress.finished(outcome.index, outcome.stats["steps"])
                _merge(outcome, merge_into, len(outcomes), total)
        return sorted(outcomes, key=lambda outcome: outcome.index)
    finally:
        for ref, _ in pending.values():  # an error or a cancellation: stop the others
            ray.cancel(ref, force=True)
        if started_here:
            ray.shutdown()


def _outcome(future: asyncio.Future[Any], job: ShardJob) -> ShardOutcome:
    try:
        outcome: ShardOutcome = future.result()
        return outcome
    except Exception as exc:
        cause = getattr(exc, "cause", None) or exc  # a RayTaskError wraps the shard's error
        where = f"shard {job.index} of {job.shards} (store {job.store})"
        if isinstance(cause, FanflowError):
            raise cause.with_context(f"{where}: ") from exc
        raise ExecutionError(
            f"{where} failed: {type(cause).__name__}: {cause}; run the same pipeline again "
            "to resume from the tasks it saved"
        ) from exc


def _merge(outcome: ShardOutcome, into: tuple[Path, str] | None, done: int, total: int) -> None:
    stats = stats_from_dict(outcome.stats)
    tasks = sum(stats.tasks.values())
    if into is None:
        logger.info("shard %d finished (%d/%d): %d tasks", outcome.index, done, total, tasks)
        return
    began = time.perf_counter()
    copied = copy_results(Path(outcome.store), outcome.run_id, *into)
    logger.info(
        "shard %d finished (%d/%d): %d tasks, %d requests; %d results merged in %.2fs",
        outcome.index, done, total, tasks, stats.requests, copied, time.perf_counter() - began,
    )  # fmt: skip


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ConfigurationError("RayRunner needs Ray: pip install 'fanflow[ray]'") from exc
    return ray


def _start_ray(ray: Any, runner: RayRunner) -> bool:
    """Start (or join) Ray unless this process already has it; whether it was started."""
    if ray.is_initialized():
        return False
    settings: dict[str, Any] = {"include_dashboard": False, **runner.init_kwargs}
    if runner.address is not None:
        settings["address"] = runner.address  # "local": a new local Ray, never a cluster's
    if runner.address in (None, "local") and runner.num_cpus is not None:
        settings["num_cpus"] = runner.num_cpus
    ray.init(**settings)
    return True


async def _run_in_parts(
    pipeline: Any,
    runner: RayRunner,
    first: Shards,
    document: dict[str, Any],
    folder: Path,
    use_cache: bool,
) -> PipelineResult:
    """Shards up to a barrier, the barrier in the driver, shards again (`_ray_phases`)."""
    ray = _import_ray()
    started_here = _start_ray(ray, runner)  # once for every part
    try:
        outcomes = await _run_shards(runner, first, None)
        sent: set[tuple[int, tuple[int, ...]]] = set()
        part = 0
        while seeds := await seeds_after_barrier(pipeline, outcomes):
            if all((seed.step, seed.lineage) in sent for seed in seeds):
                break  # the shards could not save them: the last pass runs them here
            sent.update((seed.step, seed.lineage) for seed in seeds)
            part, shards = part + 1, len(first[0])
            logger.info("part %d: %d tasks below a barrier go to the shards", part, len(seeds))
            # Too few to spread: run just them, and spread their children in the next part.
            seeds_only = len(seeds) < shards
            jobs = _jobs(document, folder, shards, use_cache, "held", part, seeds_only)
            progress = ShardProgress(first[2].names, jobs, 0, pipeline.config.progress)
            seeded: list[list[ShardInput] | None] = list(split_seeds(seeds, shards))
            outcomes += await _run_shards(runner, (jobs, seeded, progress), None)
        logger.info("shards done; the driver gathers their results")
        return await final_pass(pipeline, outcomes, use_cache)
    finally:
        if started_here:
            ray.shutdown()


def _since(started: float) -> float:
    return time.perf_counter() - started
