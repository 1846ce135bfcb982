"""One shard of a sharded run, as a Ray task runs it (on any node): `run_shard`.

What arrives is data only: the pipeline document (`Pipeline.dump`'s content: steps by
import path, the network as adapter classes, URLs and models, never a key), the shard's
rows with their indices in the whole input (or, in a later part of a run with a barrier
over a whole step, the tasks below it that the driver released: `_ray_phases`), and where
its store file is. The pipeline is made again from the document here, so API keys are
read from this worker's environment (`api_key_env`, else `FANFLOW_API_KEY`, else
`OPENAI_API_KEY`), and the user's step code must be importable here (an installed
package, or Ray's `working_dir` / `py_modules`).

Each shard keeps its results in its own store file, at the same path on every run of the
same pipeline: a rerun, or Ray's retry of a shard whose worker died, finds there every
task saved before and sends only the rest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from fanflow.engine.pipeline._file_format import FileError
from fanflow.engine.pipeline._file_load import pipeline_from_document
from fanflow.engine.pipeline._history import stats_to_dict
from fanflow.engine.pipeline._input_rows import Rooted, UnusableRow
from fanflow.engine.pipeline._ray_shards import own_rows
from fanflow.engine.pipeline._work import Work

__all__ = ["ShardJob", "ShardOutcome", "run_shard"]

IndexedRow = tuple[int, "Mapping[str, Any] | UnusableRow"]
ShardInput = IndexedRow | Work
"""An input row with its index in the whole input, or (after a barrier the driver
released) a task below it, with its lineage (`_ray_phases`)."""


@dataclass(frozen=True, slots=True)
class ShardJob:
    """What one shard runs: plain data, nothing secret (see the module docstring)."""

    index: int
    shards: int
    document: bytes  # the pipeline document as JSON, its config set for this shard
    store: str
    run_name: str
    use_cache: bool
    hold_whole_step: bool  # barriers over a whole step are left to the driver
    seeds_only: bool = False  # run the tasks given, not their children (`_ray_phases`)


@dataclass(frozen=True, slots=True)
class ShardOutcome:
    index: int
    run_id: str
    run_name: str
    store: str
    stats: dict[str, Any]


def run_shard(job: ShardJob, rows: Sequence[ShardInput] | None) -> ShardOutcome:
    """Run the shard's rows through the pipeline (None: read them from the document's
    input files, keeping this shard's); its results stay in `job.store`."""
    return asyncio.run(_run(job, rows))


async def _run(job: ShardJob, rows: Sequence[ShardInput] | None) -> ShardOutcome:
    document = orjson.loads(job.document)
    where = f"<shard {job.index} of {job.shards}>"
    pipeline = pipeline_from_document(document, FileError(where), Path.cwd() / "shard.json")
    if rows is None:  # read_inputs="workers": this shard's own rows of the input files
        mine = own_rows(pipeline._rows(), job.index, job.shards)
        rooted: Iterator[Rooted | Work] = (Rooted(index, row) for index, row in mine)
    else:
        rooted = iter([row if isinstance(row, Work) else Rooted(*row) for row in rows])
    defer = _given_only(rows) if job.seeds_only and rows is not None else None
    result = await pipeline._execute(
        rooted, pipeline.config, use_cache=job.use_cache, shard=job.hold_whole_step, defer=defer
    )
    run_id = getattr(result._source, "run_id", "")
    return ShardOutcome(job.index, run_id, job.run_name, job.store, stats_to_dict(result.stats))


def _given_only(rows: Sequence[ShardInput]) -> Callable[[Work], bool]:
    """Leave every task but those given to the driver's next pass (`_ray_phases`)."""
    given = {(row.step, row.lineage) for row in rows if isinstance(row, Work)}
    return lambda work: (work.step, work.lineage) not in given
