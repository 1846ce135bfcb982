"""Sharding a run: which shard a row goes to, and each shard's part of every limit.

A root row goes to shard `blake2b(canonical JSON of the row) % shards`: the same row lands
in the same shard on every machine and every run (Python's `hash` is salted per process),
so a rerun finds each row's earlier answers in the same shard's store.

Limits are divided so the parts never add up to more than what was configured: the
run's `concurrency` (a total across shards), its budgets (`max_cost`,
`max_tokens_total`) and, in the network document, every
`RateLimiter`'s requests/tokens per minute and requests in flight, every pool endpoint's
`max_in_flight` and every adapter's `max_connections`. Whole numbers are floored (at
least 1, with a warning when that gives more than the limit in all); rates per minute are
divided exactly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from fanflow._redact import get_logger
from fanflow.engine.pipeline._input_rows import UnusableRow

__all__ = ["divide_config", "divide_limits", "own_rows", "row_shard", "shard_of", "shards_for"]

logger = get_logger("fanflow.ray")

_WHOLE = ("max_in_flight", "max_connections")  # counts: floored, at least 1
_RATES = ("requests_per_minute", "tokens_per_minute")  # per minute: divided exactly


def shard_of(row: Any, shards: int) -> int:
    """The shard of a root row: a stable hash of its canonical JSON, modulo `shards`."""
    text = orjson.dumps(row, option=orjson.OPT_SORT_KEYS, default=str)
    digest = hashlib.blake2b(text, digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def row_shard(row: Mapping[str, Any] | UnusableRow, shards: int) -> int:
    """The shard of an input row; an unusable one fails in the shard its message picks."""
    if shards == 1:
        return 0
    return shard_of(row.message if isinstance(row, UnusableRow) else row, shards)


def own_rows(
    rows: Iterator[Mapping[str, Any] | UnusableRow], index: int, shards: int
) -> Iterator[tuple[int, Mapping[str, Any] | UnusableRow]]:
    """Shard `index`'s rows of the whole input, each with its index in it."""
    return ((n, row) for n, row in enumerate(rows) if row_shard(row, shards) == index)


def shards_for(requested: int, concurrency: int) -> int:
    """As many shards as asked, but never more than the total concurrency: each shard
    needs one request in flight at least, and more would exceed the configured total."""
    if requested <= concurrency:
        return requested
    logger.warning(
        "RayRunner(shards=%d) with concurrency=%d: running %d shards, one request in "
        "flight each, so the total stays within the concurrency",
        requested,
        concurrency,
        concurrency,
    )
    return concurrency


def divide_config(config: Mapping[str, Any], shards: int) -> dict[str, Any]:
    """A shard's part of the run's config (as `PipelineConfig.model_dump` gives it)."""
    divided = dict(config)
    divided["concurrency"] = max(1, config["concurrency"] // shards)
    if config.get("max_cost") is not None:
        divided["max_cost"] = config["max_cost"] / shards
    if config.get("max_tokens_total") is not None:
        divided["max_tokens_total"] = max(1, config["max_tokens_total"] // shards)
    return divided


def divide_limits(entry: Any, shards: int) -> Any:
    """The network document `entry` with each limit divided among `shards` (a copy)."""
    if isinstance(entry, list):
        return [divide_limits(item, shards) for item in entry]
    if not isinstance(entry, Mapping):
        return entry
    divided: dict[str, Any] = {}
    for name, value in entry.items():
        if name in _WHOLE and isinstance(value, int) and not isinstance(value, bool):
            divided[name] = _whole_part(name, value, shards)
        elif name in _RATES and isinstance(value, (int, float)) and value is not None:
            divided[name] = value / shards
        else:
            divided[name] = divide_limits(value, shards)
    return divided


def _whole_part(name: str, value: int, shards: int) -> int:
    part = max(1, value // shards)
    if part * shards > value:
        logger.warning(
            "network: %s=%d over %d shards gives each shard 1, %d in all; lower the "
            "shards to keep within %d",
            name,
            value,
            shards,
            shards,
            value,
        )
    return part
