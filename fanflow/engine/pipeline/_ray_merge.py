"""The shards' outcomes made one: their statistics summed, their results in one store.

Counts, tokens, requests and cost are the sums of the shards' `RunStats`; the wall time is
the driver's. Results are copied from each shard's store file into the driver's store
under the driver's run id (`fanflow.store.copy_results`, one SQL statement per shard).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from fanflow.adapters import Usage
from fanflow.engine.pipeline._accounting import UsageTotals
from fanflow.engine.pipeline._results import RunStats

__all__ = ["sum_stats"]


def sum_stats(parts: Iterable[RunStats], wall_time_s: float) -> RunStats:
    """One run's statistics from its shards'; `wall_time_s` is the whole run's."""
    tasks: Counter[str] = Counter()
    steps: dict[str, Counter[str]] = {}
    usage, requests, cost = Usage(), 0, 0.0
    by_step: dict[str, UsageTotals] = {}
    by_model: dict[str, UsageTotals] = {}
    from_runs: Counter[str] = Counter()
    finish_reasons: Counter[str] = Counter()
    from_store = estimated = 0
    stopped: str | None = None
    for part in parts:
        tasks.update(part.tasks)
        for name, counts in part.steps.items():
            steps.setdefault(name, Counter()).update(counts)
        usage, requests, cost = usage + part.usage, requests + part.requests, cost + part.cost
        _add_totals(by_step, part.usage_by_step)
        _add_totals(by_model, part.usage_by_model)
        from_runs.update(part.from_runs)
        finish_reasons.update(part.finish_reasons)
        from_store, estimated = from_store + part.from_store, estimated + part.tokens_estimated
        stopped = stopped or part.stopped
    return RunStats(
        dict(tasks),
        {name: dict(counts) for name, counts in steps.items()},
        usage,
        requests,
        wall_time_s,
        cost,
        by_step,
        by_model,
        stopped,
        from_store=from_store,
        from_runs=dict(from_runs),
        finish_reasons=dict(finish_reasons),
        tokens_estimated=estimated,
    )


def _add_totals(into: dict[str, UsageTotals], more: dict[str, UsageTotals]) -> None:
    for name, part in more.items():
        total = into.setdefault(name, UsageTotals())
        total.prompt_tokens += part.prompt_tokens
        total.completion_tokens += part.completion_tokens
        total.requests += part.requests
        total.cost += part.cost
        total.estimated += part.estimated
