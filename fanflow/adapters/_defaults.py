"""`with_defaults`: the wrappers a network gets unless it already does their job."""

from __future__ import annotations

from fanflow.adapters._limits import RateLimiter
from fanflow.adapters._retry import RetryingAdapter, RetryPolicy
from fanflow.adapters._types import LLMAdapter

__all__ = ["with_defaults"]


def with_defaults(network: LLMAdapter, policy: RetryPolicy | None) -> LLMAdapter:
    """`network` retried by `policy` and paused after a 429, as a pipeline uses it.

    Nothing is added when `policy` is None or the network retries by itself (its
    `retrying` is true: a `RetryingAdapter`). A network that does not pause an endpoint
    after a 429 (its `pacing` is false) gets a `RateLimiter` with no limits under the
    retries, so every request waits out a Retry-After. Adapters without these attributes
    count as doing neither.
    """
    if policy is None or getattr(network, "retrying", False):
        return network
    if not getattr(network, "pacing", False):
        network = RateLimiter(network)
    return RetryingAdapter(network, policy)
