"""What `EndpointPool` knows about each endpoint, and how it chooses one from that.

Health is a small circuit breaker. Only failures that say an endpoint is dead or hanging
(`TransportError`: refused or reset connections, timeouts) count against it. An error
*answer* (429, 500, 401) proves the endpoint is up and reachable, so it clears the count
like a success does: routing around a server that answers is the job of failover, not of
health.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from fanflow.adapters._types import LLMAdapter

__all__ = ["Health", "Member", "pick"]


class Health:
    """Closed (healthy), open (unhealthy until `next_probe_at`) or half-open (probing).

    After `threshold` transport failures in a row the endpoint is open: the pool sends it
    nothing until `probe_after` seconds have passed, then exactly one request, the probe.
    A probe that fails keeps it open for another `probe_after`; any success closes it.
    """

    __slots__ = ("failures", "healthy", "next_probe_at", "probe_after", "probing", "threshold")

    def __init__(self, threshold: int, probe_after: float) -> None:
        self.threshold = threshold
        self.probe_after = probe_after
        self.failures = 0
        self.healthy = True
        self.probing = False
        self.next_probe_at = -math.inf

    def admits(self, now: float) -> bool:
        """Whether normal routing may send a request now: healthy, or a probe is due."""
        return self.healthy or self.probe_due(now)

    def probe_due(self, now: float) -> bool:
        """Whether an unhealthy endpoint may take its one probe now."""
        return not self.healthy and not self.probing and now >= self.next_probe_at

    def start(self, now: float) -> bool:
        """Record that a request is being sent; True if it is the half-open probe."""
        if self.probe_due(now):
            self.probing = True
            return True
        return False

    def succeeded(self, probe: bool) -> None:
        """The endpoint answered (well, or with an error status): it is alive."""
        self.failures = 0
        self.healthy = True
        if probe:
            self.probing = False

    def failed(self, now: float, probe: bool) -> None:
        """A transport failure: count it, and open the breaker at the threshold."""
        self.failures += 1
        if probe:
            self.probing = False
        if self.failures >= self.threshold:  # also true for every failure while open
            self.healthy = False
            self.next_probe_at = now + self.probe_after

    def abandoned(self, probe: bool) -> None:
        """The request ended without a verdict (cancelled, or a non-endpoint error).

        A probe that says nothing frees the half-open slot, so the next request probes.
        """
        if probe:
            self.probing = False


class Member:
    """The pool's live state for one endpoint: load, outcomes, health."""

    __slots__ = (
        "adapter",
        "failed",
        "health",
        "in_flight",
        "index",
        "limit",
        "models",
        "name",
        "ok",
    )

    def __init__(
        self,
        index: int,
        name: str,
        adapter: LLMAdapter,
        models: Sequence[str] | None,
        limit: int | None,
        health: Health,
    ) -> None:
        self.index = index
        self.name = name
        self.adapter = adapter
        self.models = None if models is None else frozenset(models)
        self.limit = limit
        self.health = health
        self.in_flight = 0
        self.ok = 0
        self.failed = 0

    def serves(self, model: str | None) -> bool:
        return model is None or self.models is None or model in self.models

    def has_capacity(self) -> bool:
        return self.limit is None or self.in_flight < self.limit

    def paused(self) -> bool:
        """Whether the adapter says it is waiting out a 429 (the `RateLimiter` wrapper does)."""
        value = getattr(self.adapter, "is_paused", False)
        return bool(value() if callable(value) else value)

    def paused_until(self) -> float:
        value = getattr(self.adapter, "paused_until", None)
        return float(value) if isinstance(value, (int, float)) else math.inf


def pick(candidates: list[Member], now: float, turn: int, size: int) -> Member | None:
    """The member to send to: healthy, then with a free slot, then unpaused, then least loaded.

    If no candidate is healthy, the one whose probe is due soonest is used anyway. A paused
    endpoint is passed over only for another with a free slot: its own pause ends at a
    known time, while a full endpoint frees a slot who knows when. If all free ones are
    paused, those resuming soonest are used. A due probe goes before the least loaded, so
    a recovered endpoint rejoins at once. Ties go round-robin from `turn` (of `size`
    members). None means every usable candidate is full: the caller waits for a slot.
    """
    usable = [m for m in candidates if m.health.admits(now)]
    if not usable:
        usable = [min(candidates, key=lambda m: m.health.next_probe_at)]
    free = [m for m in usable if m.has_capacity()]
    if not free:
        return None
    ready = [m for m in free if not m.paused()] or _soonest_unpaused(free)
    probes = [m for m in ready if m.health.probe_due(now)]
    return min(probes or ready, key=lambda m: (m.in_flight, (m.index - turn) % size))


def _soonest_unpaused(paused: list[Member]) -> list[Member]:
    soonest = min(member.paused_until() for member in paused)
    return [member for member in paused if member.paused_until() == soonest]
