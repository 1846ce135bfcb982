"""The driver's part of a sharded run with barriers over a whole step (`_ray_run`, point 5).

Shards run every task up to the first such barrier. The driver then makes a pass over the
pipeline in memory (no store, no display) in which every task the shards ran is replayed
from their store files (`Replayed`), so the barrier releases here, over every shard's
results. The tasks that release creates are the next part's `seeds`: the pass leaves them
(and every other task no shard ran) unrun, with no record, and the seeds go to the shards
again by a stable hash of their lineage (`split_seeds`), so a seed's whole subtree, joins
included, runs in one shard. Those shards run down to the next barrier (held there too),
and so on until a pass leaves no seed. Fewer seeds than shards (one, after
`aggregate(by="all")`) run alone (`ShardJob.seeds_only`): the next pass finds their
children unrun and spreads those. The driver's last pass (`final_pass`) is a normal
run over its own store with every shard's task replayed: its result is a local run's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from fanflow.engine.pipeline._dispatcher import ALL_ROOTS
from fanflow.engine.pipeline._history import stats_from_dict
from fanflow.engine.pipeline._ray_shards import shard_of
from fanflow.engine.pipeline._ray_worker import ShardInput, ShardOutcome
from fanflow.engine.pipeline._results import PipelineResult
from fanflow.engine.pipeline._work import Work
from fanflow.steps import TaskResult
from fanflow.store import Store

__all__ = ["Replayed", "final_pass", "seeds_after_barrier", "split_seeds"]

Ran = dict[tuple[int, tuple[int, ...]], TaskResult]


class Replayed:
    """The tasks the shards ran, ok or failed, by (step, lineage): each given once."""

    def __init__(self, ran: Ran) -> None:
        self.ran = ran
        self.seeds: list[Work] = []

    def __call__(self, step: int, lineage: tuple[int, ...]) -> TaskResult | None:
        return self.ran.pop((step, lineage), None)

    def defer(self, work: Work) -> bool:
        """Whether the pass leaves `work` unrun: no shard ran it. Tasks below a barrier
        over the whole step (root `ALL_ROOTS`) are the next part's seeds."""
        if (work.step, work.lineage) in self.ran:
            return False
        if work.root == ALL_ROOTS:
            self.seeds.append(work)
        return True


def tasks_ran(pipeline: Any, outcomes: Sequence[ShardOutcome]) -> Ran:
    """Every task the shards' runs saved, read from their store files."""
    ran: Ran = {}
    index = {plan.name: plan.index for plan in pipeline.plans}
    for outcome in outcomes:
        store = Store(outcome.store)
        try:
            for task in store.results(outcome.run_id):
                ran[(index[task.step], task.lineage)] = task
        finally:
            store.close()
    return ran


async def seeds_after_barrier(pipeline: Any, outcomes: Sequence[ShardOutcome]) -> list[Work]:
    """The tasks below the barriers that the shards' results release (none: all done)."""
    replayed = Replayed(tasks_ran(pipeline, outcomes))
    in_memory = pipeline.config.model_copy(update={"store": False, "progress": False})
    await pipeline._execute(
        pipeline._rows(), in_memory, use_cache=False, replay=replayed, defer=replayed.defer
    )
    return replayed.seeds


def split_seeds(seeds: Sequence[Work], shards: int) -> list[list[ShardInput]]:
    """Each shard's seeds, by a stable hash of the lineage the barrier gave them."""
    parts: list[list[ShardInput]] = [[] for _ in range(shards)]
    for seed in seeds:
        fresh = Work(seed.step, seed.fields, seed.context, seed.lineage, seed.root)
        parts[shard_of(list(seed.lineage), shards) if shards > 1 else 0].append(fresh)
    return parts


async def final_pass(
    pipeline: Any, outcomes: Sequence[ShardOutcome], use_cache: bool
) -> PipelineResult:
    """The pipeline run here over its store, with the tasks the shards ran replayed."""
    replay = Replayed(tasks_ran(pipeline, outcomes))
    result: PipelineResult = await pipeline._execute(
        pipeline._rows(), pipeline.config, use_cache=use_cache, replay=replay
    )
    shard_stats = [stats_from_dict(outcome.stats) for outcome in outcomes]
    from_store = result.stats.from_store + sum(stats.from_store for stats in shard_stats)
    result.stats = dataclasses.replace(result.stats, from_store=from_store)
    return result
