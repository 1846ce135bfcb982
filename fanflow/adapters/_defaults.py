"""`with_defaults`: the wrappers a network gets unless it already does their job."""

from __future__ import annotations

from fanflow.adapters._limits import RateLimiter
from fanflow.adapters._retry import RetryingAdapter, RetryPolicy
from fanflow.adapters._types import LLMAdapter

__all__ = ["with_defaults"]


def with_defaults(network: LLMAdapter, policy: RetryPolicy | None) -> LLMAdapter:
    """`network` retried by `policy` and paced after 429s, as a pipeline uses it.

    Nothing is added when `policy` is None or the network retries by itself (its
    `retrying` is true: a `RetryingAdapter`). A network that does not pause an endpoint
    after a 429 (its `pacing` is false) gets a `RateLimiter` with no limits under the
    retries, which lowers the concurrency on 429s and pauses the endpoint (never beyond
    the policy's `max_retry_after`) when its quota is spent. Adapters without these
    attributes count as doing neither.
    """
    if policy is None or getattr(network, "retrying", False):
        return network
    if not getattr(network, "pacing", False):
        network = RateLimiter(network, max_pause=policy.max_retry_after)
    return RetryingAdapter(network, policy)
