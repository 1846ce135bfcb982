"""Many tasks: a pipeline of steps, planned, dispatched, recorded and returned as rows.

- `_pipeline`: `PipelineBuilder`, `Pipeline`, `PipelineConfig`.
- `_graph`: the pipeline as a graph (`<<`, lists of branches, `Route`, `connect`).
- `_plan`, `_join_plan`: from the graph to an executable plan, every binding checked at
  build(). `_joins`: branches, routes and joins while running.
- `_tasks`: one task's workflow: binding, `create_workflow`, params, model.
- `_preflight`, `_network_checks`, `_config_errors`: what `build()` checks before any
  request (each step's `create_workflow` once, the network and its models, settings).
- `_functions`: running function steps (`@fanflow.step`) and their content keys.
- `_dispatcher`: every task of every step under one concurrency limit.
- `_sink`: where results go: cache lookups, saving, statistics.
- `_session`: one `execute()` as a recorded run; `_reuse` says what came from the store,
  `_sharing` lets identical runs at once send each task once, `_drain` stops gently.
- `_work`: a task waiting to run.
- `_inputs`: input rows from keywords, lists, datasets and files (`_input_files`), Hub
  datasets (`_input_hub`), mixes by weight (`_mix`); `columns`, `skip`, `limit` and
  `shuffle` on any of them (`_input_options`, `_input_shuffle`); a row that cannot be
  read or used fails alone (`_input_rows`).
- `_results`, `_history`: `PipelineResult` (of this run, or a past one from the store);
  `_run_graph` the run's shape as the report draws it.
- `_lazy`, `_arrow`: rows and failures read from the store as used; Arrow/Parquet files.
- `_save`, `_shards`, `_jsonl_shards`: `save()` to Parquet, Arrow or JSONL, in shards;
  `_formats`: `to_format()` (TRL's shapes); `_hub`, `_card`: `push_to_hub()` and its
  dataset card.
- `_file_format` (the format), `_file_dump`, `_file_load`, `_file_inputs`,
  `_file_network`, `_file_http`, `_file_overrides`, `_files`: pipelines as YAML/JSON files
  (`Pipeline.dump`, `load_pipeline`, `fanflow run` and its `--set`).
- `_ray_runner` (`RayRunner`), `_ray_run` (the driver), `_ray_worker` (a shard),
  `_ray_shards` (rows to shards, limits divided), `_ray_merge`, `_ray_progress`,
  `_ray_phases` (barriers over a whole step, between sharded parts): sharded runs on Ray.
- `_accounting`: cost, budgets, usage totals. `_progress`: the live display. `_gc`.
  `_tracing`: a run's OpenTelemetry spans, when a provider is set up (`fanflow._otel`).
"""

from __future__ import annotations

from typing import Any

from fanflow.engine.pipeline._files import load_pipeline
from fanflow.engine.pipeline._graph import Route
from fanflow.engine.pipeline._history import load_run
from fanflow.engine.pipeline._mix import Mix
from fanflow.engine.pipeline._pipeline import Pipeline, PipelineBuilder, PipelineConfig
from fanflow.engine.pipeline._ray_runner import RayRunner, use_launcher
from fanflow.engine.pipeline._results import PipelineResult, RunStats, StepResults


async def _run_on_ray(*args: Any) -> PipelineResult:
    """`_ray_run.run_on_ray`, imported when a run first uses Ray: it brings the pipeline
    file modules, which a run without Ray does not need at import."""
    from fanflow.engine.pipeline._ray_run import run_on_ray

    return await run_on_ray(*args)


use_launcher(_run_on_ray)  # for `execute(runner=RayRunner(...))` (see `_ray_runner`)

__all__ = [
    "Mix",
    "Pipeline",
    "PipelineBuilder",
    "PipelineConfig",
    "PipelineResult",
    "RayRunner",
    "Route",
    "RunStats",
    "StepResults",
    "load_pipeline",
    "load_run",
]
