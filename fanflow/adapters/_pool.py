"""`EndpointPool`: many endpoints behind one adapter.

An inference network is rarely one server: it is several vLLM replicas, or a local server
plus a hosted fallback, each serving some models. The pool makes them look like one
`LLMAdapter`, so the engine above it never learns that a replica died mid-run. It is a
wrapper like the others (retries, rate limits): it holds no HTTP code and works with any
adapter, which is also how it is tested (with `MockAdapter`s).

All bookkeeping is synchronous between awaits, so it needs no locks: counts, health and
the hand-off of freed slots to waiting requests each happen in one step of the loop.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from fanflow._exceptions import AdapterError, ConfigurationError, FanflowError, TransportError
from fanflow.adapters._health import Health, Member, pick
from fanflow.adapters._limits import RateLimiter
from fanflow.adapters._types import AdapterBase, Generation, GenerationRequest, LLMAdapter

__all__ = ["Endpoint", "EndpointPool", "EndpointStats"]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One member of a pool: an adapter, the models it serves, and how much it may take.

    `models` None means it serves any model. `name` (default: the adapter's `base_url`,
    else `endpoint-<i>`) appears in stats, errors and `Generation.endpoint`.
    `max_in_flight`, if set, caps the requests the pool sends it at once.
    """

    adapter: LLMAdapter
    models: Sequence[str] | None = None
    name: str | None = None
    max_in_flight: int | None = None

    def __post_init__(self) -> None:
        if not callable(getattr(self.adapter, "generate", None)):
            raise ConfigurationError(
                f"Endpoint got {type(self.adapter).__name__}, which has no generate(); "
                "pass an adapter such as OpenAIAdapter or MockAdapter."
            )
        if isinstance(self.models, str) or (self.models is not None and not self.models):
            raise ConfigurationError(
                f"Endpoint models={self.models!r} must be a non-empty list of model names, "
                "or None for an endpoint that serves any model."
            )
        if self.max_in_flight is not None and self.max_in_flight < 1:
            raise ConfigurationError(
                f"Endpoint max_in_flight={self.max_in_flight!r} must be at least 1, "
                "or None for no cap."
            )


@dataclass(frozen=True, slots=True)
class EndpointStats:
    """A snapshot of one endpoint: its requests in flight, outcomes so far, and state."""

    name: str
    healthy: bool
    paused: bool
    in_flight: int
    ok: int
    failed: int


@dataclass(frozen=True, slots=True)
class _Lease:
    """A reserved slot on a member; `probe` if this request is its half-open probe."""

    member: Member
    probe: bool


class _Waiter:
    """A request waiting for a slot on one of `candidates`; hashed by identity."""

    __slots__ = ("candidates", "future")

    def __init__(self, candidates: list[Member], future: asyncio.Future[_Lease]) -> None:
        self.candidates = candidates
        self.future = future


class EndpointPool(AdapterBase):
    """Send each request to the best endpoint that serves its model; fail over on errors.

    Routing prefers healthy endpoints with a free slot, unpaused ones first (a paused
    adapter is one whose quota is spent, see `RateLimiter`), and among those the one
    with the fewest requests in flight; ties go round-robin so load spreads. A request
    that finds every candidate full waits, first come first served, for a slot to free.
    A retryable failure (`exc.retryable`: transport errors, 429, 5xx, bad bodies) is
    retried at once on an endpoint this request has not tried yet; the last error is
    raised when none is left. `failover=False` raises the first error instead.

    An endpoint that fails `failure_threshold` times in a row with a `TransportError` is
    routed around, then given one probe request every `probe_after` seconds until one
    succeeds. If every endpoint for a model is unhealthy, the one whose probe is due
    soonest is still tried: failing without trying would turn a blip into an outage.

    `model`, the model used for a request that names none, is the default model all the
    endpoints share, or None if they differ: such a request may go to any of them.
    """

    pacing: ClassVar[bool] = True  # each endpoint is paced by its own 429s

    def __init__(
        self,
        endpoints: Sequence[LLMAdapter | Endpoint],
        *,
        failure_threshold: int = 3,
        probe_after: float = 10.0,
        failover: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        _check_settings(endpoints, failure_threshold, probe_after)
        self._members = _members(endpoints, failure_threshold, probe_after)
        self._failover = failover
        self._clock = clock
        self._turn = 0
        self._waiters: dict[_Waiter, None] = {}  # insertion-ordered: FIFO with O(1) removal

    def __repr__(self) -> str:
        return f"EndpointPool(endpoints={self.names!r})"

    @property
    def model(self) -> str | None:  # type: ignore[override]  # AdapterBase's is an attribute
        """The endpoints' shared default model; None if they differ or have none."""
        models = {getattr(member.adapter, "model", None) for member in self._members}
        model = models.pop() if len(models) == 1 else None
        return model if isinstance(model, str) else None

    @property
    def names(self) -> list[str]:
        """The endpoints' names, in the order they were given."""
        return [member.name for member in self._members]

    @property
    def waiting(self) -> int:
        """How many requests are waiting for a slot (every endpoint for them is full)."""
        return len(self._waiters)

    def snapshot(self) -> list[EndpointStats]:
        """Per-endpoint counts and state right now, for progress displays and logs."""
        return [
            EndpointStats(m.name, m.health.healthy, m.paused(), m.in_flight, m.ok, m.failed)
            for m in self._members
        ]

    def check_model(self, model: str | None) -> None:
        """`ConfigurationError` if no endpoint serves `model`, or if one that may get a
        request for it cannot send it (e.g. `model` None and the endpoint has no default)."""
        for member in self._serving(model):
            check = getattr(member.adapter, "check_model", None)
            if check is None:
                continue
            try:
                check(model)
            except ConfigurationError as exc:
                raise exc.with_context(f"{self!r}, endpoint {member.name!r}: ") from None

    async def generate(self, request: GenerationRequest) -> Generation:
        """Answer `request` from one endpoint, failing over to others on retryable errors."""
        candidates = self._serving(request.model)
        tried: list[Member] = []
        while True:
            lease = await self._acquire([m for m in candidates if m not in tried])
            tried.append(lease.member)
            try:
                generation = await self._send(lease, request)
            except Exception as exc:
                if not (self._failover and getattr(exc, "retryable", False)):
                    raise
                if len(tried) == len(candidates):
                    if not isinstance(exc, FanflowError):
                        raise
                    raise exc.with_context(_exhausted(request.model, tried)) from exc
                continue
            return _stamp(generation, lease.member, len(tried))

    async def aclose(self) -> None:
        """Close every endpoint's adapter, even if one fails; then raise the first error."""
        errors: list[Exception] = []
        for adapter in _distinct(member.adapter for member in self._members):
            try:
                await adapter.aclose()
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    def _serving(self, model: str | None) -> list[Member]:
        serving = [member for member in self._members if member.serves(model)]
        if not serving:
            served = sorted({name for m in self._members for name in m.models or ()})
            raise ConfigurationError(
                f"{self!r} has no endpoint serving model {model!r}; it serves "
                f"{', '.join(map(repr, served))}. Use one of those, or add an "
                f"Endpoint(adapter, models=[{model!r}])."
            )
        return serving

    async def _acquire(self, candidates: list[Member]) -> _Lease:
        """A slot on the best candidate, waiting in line if all of them are full."""
        if self._waiters:
            self._dispatch()  # those already waiting go first, even for a slot freed by time
        lease = self._choose(candidates)
        if lease is not None:
            return lease
        waiter = _Waiter(candidates, asyncio.get_running_loop().create_future())
        self._waiters[waiter] = None
        try:
            return await waiter.future
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled():
                self._give_back(waiter.future.result())  # cancelled right after the hand-off
            raise
        finally:
            self._waiters.pop(waiter, None)

    def _choose(self, candidates: list[Member]) -> _Lease | None:
        """Reserve a slot on the best candidate now, or None if the usable ones are full."""
        now = self._clock()
        member = pick(candidates, now, self._turn, len(self._members))
        if member is None:
            return None
        self._turn = member.index + 1
        member.in_flight += 1
        return _Lease(member, member.health.start(now))

    async def _send(self, lease: _Lease, request: GenerationRequest) -> Generation:
        """Call the member's adapter and record what its outcome says about the endpoint."""
        member, probe = lease.member, lease.probe
        try:
            generation = await member.adapter.generate(request)
        except TransportError:
            member.failed += 1
            member.health.failed(self._clock(), probe)
            raise
        except AdapterError:
            member.failed += 1
            member.health.succeeded(probe)  # an error answer: the endpoint is alive
            raise
        except Exception:
            member.failed += 1
            member.health.abandoned(probe)
            raise
        except BaseException:  # cancelled: no verdict, and not a failure of the endpoint
            member.health.abandoned(probe)
            raise
        else:
            member.ok += 1
            member.health.succeeded(probe)
        finally:
            self._release(member)  # after the health update: the hand-off reads it
        return generation

    def _give_back(self, lease: _Lease) -> None:
        lease.member.health.abandoned(lease.probe)
        self._release(lease.member)

    def _release(self, member: Member) -> None:
        member.in_flight -= 1
        if self._waiters:
            self._dispatch()

    def _dispatch(self) -> None:
        """Hand free slots to waiting requests, oldest first.

        Stops as soon as no endpoint has room, so with a full pool this costs one pass
        over the endpoints, not over the (possibly thousands of) waiters.
        """
        served: list[_Waiter] = []
        for waiter in self._waiters:
            if not any(member.has_capacity() for member in self._members):
                break
            if waiter.future.done():
                continue  # cancelled; its own finally removes it
            lease = self._choose(waiter.candidates)
            if lease is not None:
                waiter.future.set_result(lease)
                served.append(waiter)
        for waiter in served:
            del self._waiters[waiter]


def _stamp(generation: Generation, member: Member, tries: int) -> Generation:
    """Fill in who answered and, where `Generation` records it, how many tries it took."""
    changes: dict[str, Any] = {}
    if generation.endpoint is None:
        changes["endpoint"] = member.name
    if hasattr(generation, "attempts"):  # the retries the answering endpoint needed count too
        inner = getattr(generation, "attempts", 1) or 1
        if tries > 1:
            changes["attempts"] = tries - 1 + inner
    return replace(generation, **changes) if changes else generation


def _exhausted(model: str | None, tried: list[Member]) -> str:
    names = ", ".join(member.name for member in tried)
    what = "endpoint" if len(tried) == 1 else f"all {len(tried)} endpoints"
    return f"EndpointPool: {what} serving model {model!r} failed (tried {names}); the last: "


def _check_settings(
    endpoints: Sequence[LLMAdapter | Endpoint], failure_threshold: int, probe_after: float
) -> None:
    if not endpoints:
        raise ConfigurationError("EndpointPool needs at least one endpoint (an adapter).")
    if failure_threshold < 1:
        raise ConfigurationError(
            f"EndpointPool failure_threshold={failure_threshold!r} must be at least 1."
        )
    if not (math.isfinite(probe_after) and probe_after >= 0):
        raise ConfigurationError(
            f"EndpointPool probe_after={probe_after!r} must be a finite number of seconds >= 0."
        )


def _members(
    endpoints: Sequence[LLMAdapter | Endpoint], failure_threshold: int, probe_after: float
) -> list[Member]:
    members: list[Member] = []
    taken: set[str] = set()
    limiters: dict[int, LLMAdapter] = {}
    for index, item in enumerate(endpoints):
        endpoint = item if isinstance(item, Endpoint) else Endpoint(item)
        name = _name(endpoint, index, taken)
        taken.add(name)
        health = Health(failure_threshold, probe_after)
        adapter = _pausing(endpoint.adapter, limiters)
        members.append(
            Member(index, name, adapter, endpoint.models, endpoint.max_in_flight, health)
        )
    return members


def _pausing(adapter: LLMAdapter, limiters: dict[int, LLMAdapter]) -> LLMAdapter:
    """The adapter behind a `RateLimiter`, so 429s pace that endpoint for everyone.

    A default `RateLimiter` sets no limits; it lowers the endpoint's concurrency on 429s
    and holds new requests back while a spent quota's Retry-After runs. An adapter shared
    by several endpoints shares one.
    """
    if hasattr(adapter, "is_paused"):
        return adapter  # it already reports its own pauses (a RateLimiter does)
    if id(adapter) not in limiters:
        limiters[id(adapter)] = RateLimiter(adapter)
    return limiters[id(adapter)]


def _name(endpoint: Endpoint, index: int, taken: set[str]) -> str:
    """The given name (which must be unique), else the base URL, else `endpoint-<i>`."""
    if endpoint.name is not None:
        if endpoint.name in taken:
            raise ConfigurationError(
                f"EndpointPool has two endpoints named {endpoint.name!r}; names must differ."
            )
        return endpoint.name
    inner = getattr(endpoint.adapter, "wrapped", None)  # through a RateLimiter, RetryingAdapter
    base_url = getattr(endpoint.adapter, "base_url", None) or getattr(inner, "base_url", None)
    name = base_url if isinstance(base_url, str) and base_url else f"endpoint-{index}"
    return name if name not in taken else f"{name}#{index}"


def _distinct(adapters: Iterable[LLMAdapter]) -> list[LLMAdapter]:
    """Each adapter once, though several endpoints may share one."""
    seen: dict[int, LLMAdapter] = {}
    for adapter in adapters:
        seen.setdefault(id(adapter), adapter)
    return list(seen.values())
