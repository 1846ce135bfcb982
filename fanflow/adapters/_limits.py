"""Keep one endpoint within its limits: requests in flight, per minute, tokens per minute.

Hosted APIs answer 429 once a key goes over its rate, and then every request sent in the
meantime is wasted and counted against the key. Pacing requests on the client side (from
the server's rate headers where it sends them), and lowering the concurrency when it says
"slow down", keeps the fan-out just under the limit instead of bouncing off it; only a
spent quota pauses the whole endpoint, so a random few 429s never stall the others. A
self-hosted server (vLLM and the like) has no rates and sends no rate headers, so with
the defaults nothing here ever waits.

Wrap order: `RetryingAdapter(RateLimiter(adapter))`, so that every retry queues behind
the limiter (and behind a quota pause) like a fresh request.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import ClassVar, TypeVar

import anyio

from fanflow._exceptions import ConfigurationError, RateLimited
from fanflow.adapters._types import Generation, GenerationRequest, LLMAdapter, RateLimitInfo
from fanflow.adapters._window import ConcurrencyWindow
from fanflow.adapters._wrapper import WrappingAdapter, note_cut_off

__all__ = ["RateLimiter"]

T = TypeVar("T")
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

_DEFAULT_PAUSE_S = 1.0  # a spent quota whose 429 did not say how long to wait
_DEFAULT_MAX_TOKENS = 256  # completion tokens assumed when a request sets no max_tokens
_CHARS_PER_TOKEN = 4
_EPSILON = 1e-9  # float slack, so a bucket refilled to 0.999999999 counts as 1


class _Bucket:
    """A token bucket holding up to `capacity`, refilled at `rate` per second.

    The rate is `capacity` per minute unless an endpoint's headers say otherwise. The
    level may go below zero: a request larger than the estimate charged for it puts the
    bucket in debt, which later requests wait out.
    """

    __slots__ = ("capacity", "level", "rate", "updated")

    def __init__(self, capacity: float, now: float, level: float | None = None) -> None:
        self.capacity = capacity
        self.rate = capacity / 60.0
        self.level = capacity if level is None else min(level, capacity)
        self.updated = now

    def available(self, now: float) -> float:
        self.level = min(self.capacity, self.level + max(0.0, now - self.updated) * self.rate)
        self.updated = now
        return self.level

    def wait_for(self, amount: float, now: float) -> float:
        """Seconds until `amount` can be taken; one larger than the bucket waits for it full."""
        missing = min(amount, self.capacity) - self.available(now)
        return 0.0 if missing <= _EPSILON else missing / self.rate

    def adjust(self, delta: float, now: float) -> None:
        """Take (negative `delta`) or give back (positive) tokens."""
        self.level = min(self.capacity, self.available(now) + delta)

    def resize(self, capacity: float, now: float) -> None:
        self.available(now)
        self.capacity = capacity
        self.rate = capacity / 60.0
        self.level = min(self.level, capacity)

    def sync(self, remaining: int, reset_s: float | None, now: float) -> None:
        """Follow the server's count: at most `remaining` left, back to full in `reset_s`.

        OpenAI's reset is the time until the bucket is full again, so the refill rate is
        what is missing over that time: a spent quota then lets requests through one by
        one as it refills, instead of holding them all until it is full.
        """
        self.level = min(self.available(now), float(remaining))
        missing = self.capacity - remaining
        if reset_s is not None and reset_s > 0 and missing > 0:
            self.rate = missing / reset_s


class RateLimiter(WrappingAdapter):
    """Pace requests to one endpoint; one limiter per endpoint, shared by all its callers.

    `max_in_flight` caps concurrent requests. `requests_per_minute` and
    `tokens_per_minute` are token buckets refilled continuously; a request is charged its
    prompt characters / 4 plus `max_tokens` (or 256) tokens, corrected to the reported
    usage once answered. None means no limit (the default for all three).

    With `use_headers`, `x-ratelimit-*` headers on answers set the limits not given here:
    the bucket follows the server's remaining count and refills at the rate its reset
    time implies, so a spent quota lets requests through as it refills.

    A 429 is re-raised unchanged (the retry wrapper above makes that request wait its
    Retry-After) and halves the endpoint's concurrency, which grows back by one per
    success (`ConcurrencyWindow`). Only when most requests in flight get 429s does the
    whole endpoint pause, for the Retry-After (1 s if none) but never more than
    `max_pause` seconds, and then it sends one probe at a time until one succeeds.
    Waiting requests go in arrival order and may be cancelled at any point.

    `clock` and `sleep` replace `time.monotonic` and `anyio.sleep`, for tests.
    """

    pacing: ClassVar[bool] = True

    def __init__(
        self,
        adapter: LLMAdapter,
        *,
        max_in_flight: int | None = None,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        use_headers: bool = True,
        max_pause: float = 300.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = anyio.sleep,
    ) -> None:
        _check_limits(max_in_flight, requests_per_minute, tokens_per_minute, max_pause)
        super().__init__(adapter)
        self.max_in_flight = max_in_flight
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self.use_headers = use_headers
        self.max_pause = max_pause
        self.in_flight = 0
        self._clock = clock
        self._sleep = sleep
        now = clock()
        self._requests = _Bucket(requests_per_minute, now) if requests_per_minute else None
        self._tokens = _Bucket(tokens_per_minute, now) if tokens_per_minute else None
        self._window = ConcurrencyWindow(max_in_flight)
        self._gate = anyio.Lock()  # FIFO: the head of the queue waits, the rest line up
        self._paused_until = 0.0

    def __repr__(self) -> str:
        return (
            f"RateLimiter({self.wrapped!r}, max_in_flight={self.max_in_flight}, "
            f"requests_per_minute={self.requests_per_minute}, "
            f"tokens_per_minute={self.tokens_per_minute}, use_headers={self.use_headers})"
        )

    @property
    def paused_until(self) -> float:
        """The `clock()` time before which no request is sent (the quota is spent)."""
        return self._paused_until

    @property
    def is_paused(self) -> bool:
        """Whether new requests are held back now, so a pool can prefer another endpoint."""
        return self._clock() < self._paused_until

    @property
    def concurrency(self) -> float:
        """Requests the endpoint may have in flight now (infinite: no limit yet)."""
        return self._window.limit

    @property
    def requests_available(self) -> float | None:
        """Requests the per-minute bucket would let through now; None when unlimited."""
        return None if self._requests is None else self._requests.available(self._clock())

    @property
    def tokens_available(self) -> float | None:
        """Tokens the per-minute bucket would let through now; None when unlimited."""
        return None if self._tokens is None else self._tokens.available(self._clock())

    async def generate(self, request: GenerationRequest) -> Generation:
        """Wait for a slot and for the rates to allow it, then send `request`."""
        window = self._window
        if not window.try_take():  # a free slot costs no trip through the event loop
            await _unsent_if_cut_off(window.take())
        try:
            # No limit known and never paused (a self-hosted server): nothing to wait for
            # or charge, so not even the clock is read.
            if self._requests is None and self._tokens is None and not self._paused_until:
                charged = 0
            else:
                charged = await self._admit(request)
            sequence = window.sent
            window.sent = sequence + 1
            self.in_flight += 1
            try:
                generation = await self.wrapped.generate(request)
            except RateLimited as exc:
                self._rate_limited(exc, sequence)
                raise
            finally:
                self.in_flight -= 1
            window.succeeded()
            if charged or (self.use_headers and generation.rate_limits is not None):
                self._settle(generation, charged)
            return generation
        finally:
            window.release()

    def _rate_limited(self, exc: RateLimited, sequence: int) -> None:
        if self._window.rate_limited(sequence):
            self._pause(exc.retry_after if exc.retry_after is not None else _DEFAULT_PAUSE_S)

    async def _admit(self, request: GenerationRequest) -> int:
        """Wait until the request may be sent and charge it; the tokens charged.

        When nobody is queued and the limits allow it now, this charges and returns
        without an await, so an endpoint with headroom (or no limits) costs no wait.
        """
        if not self._gate.locked():
            cost = self._cost(request)
            if self._delay(cost) <= 0:
                self._charge(cost)
                return cost
        return await _unsent_if_cut_off(self._admit_in_turn(request))

    async def _admit_in_turn(self, request: GenerationRequest) -> int:
        async with self._gate:
            while True:
                cost = self._cost(request)  # the token bucket may have appeared meanwhile
                delay = self._delay(cost)
                if delay <= 0:
                    break
                await self._sleep(delay)
            self._charge(cost)
        return cost

    def _cost(self, request: GenerationRequest) -> int:
        return _estimate(request) if self._tokens is not None else 0

    def _delay(self, cost: int) -> float:
        now = self._clock()
        delay = self._paused_until - now
        if self._requests is not None:
            delay = max(delay, self._requests.wait_for(1, now))
        if self._tokens is not None:
            delay = max(delay, self._tokens.wait_for(cost, now))
        return delay

    def _charge(self, cost: int) -> None:
        now = self._clock()
        if self._requests is not None:
            self._requests.adjust(-1, now)
        if self._tokens is not None:
            self._tokens.adjust(-cost, now)

    def _settle(self, generation: Generation, charged: int) -> None:
        """Correct the token charge to the reported usage; learn from rate headers."""
        now = self._clock()
        used = generation.usage.total_tokens
        if charged and used and self._tokens is not None:
            self._tokens.adjust(charged - used, now)
        if self.use_headers and generation.rate_limits is not None:
            self._learn(generation.rate_limits, now)

    def _learn(self, info: RateLimitInfo, now: float) -> None:
        if self.requests_per_minute is None and info.limit_requests:
            self._requests = _seeded(
                self._requests, info.limit_requests, info.remaining_requests, now
            )
            if info.remaining_requests is not None:
                self._requests.sync(info.remaining_requests, info.reset_requests_s, now)
        if self.tokens_per_minute is None and info.limit_tokens:
            self._tokens = _seeded(self._tokens, info.limit_tokens, info.remaining_tokens, now)
            if info.remaining_tokens is not None:
                self._tokens.sync(info.remaining_tokens, info.reset_tokens_s, now)
        for limit, remaining, reset in (
            (info.limit_requests, info.remaining_requests, info.reset_requests_s),
            (info.limit_tokens, info.remaining_tokens, info.reset_tokens_s),
        ):
            if remaining == 0 and not limit and reset is not None:
                # Spent, with no limit to derive a refill rate from: wait for the reset.
                self._pause(reset)

    def _pause(self, seconds: float) -> None:
        seconds = min(seconds, self.max_pause)
        self._paused_until = max(self._paused_until, self._clock() + seconds)


async def _unsent_if_cut_off(waiting: Awaitable[T]) -> T:
    """Await a wait before sending; a timeout that cuts it off sent nothing."""
    try:
        return await waiting
    except BaseException as exc:
        note_cut_off(exc, 0)
        raise


def _seeded(bucket: _Bucket | None, limit: int, remaining: int | None, now: float) -> _Bucket:
    """A bucket learnt from headers: created at `remaining`, or resized to a new limit."""
    if bucket is None:
        return _Bucket(limit, now, level=remaining)
    if bucket.capacity != limit:
        bucket.resize(limit, now)
    return bucket


def _estimate(request: GenerationRequest) -> int:
    """Tokens a request will use at most, roughly: prompt characters / 4 plus max_tokens."""
    prompt = sum(len(message.content) for message in request.messages) // _CHARS_PER_TOKEN
    return prompt + (request.max_tokens or _DEFAULT_MAX_TOKENS)


def _check_limits(
    max_in_flight: int | None,
    requests_per_minute: float | None,
    tokens_per_minute: float | None,
    max_pause: float,
) -> None:
    if not (math.isfinite(max_pause) and max_pause >= 0):
        raise ConfigurationError(
            f"RateLimiter(max_pause={max_pause!r}) must be a finite number of seconds >= 0."
        )
    if max_in_flight is not None and max_in_flight < 1:
        raise ConfigurationError(
            f"RateLimiter(max_in_flight={max_in_flight}) must be at least 1, or None for no limit."
        )
    for name, value in (
        ("requests_per_minute", requests_per_minute),
        ("tokens_per_minute", tokens_per_minute),
    ):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ConfigurationError(
                f"RateLimiter({name}={value!r}) must be a positive number, or None for no limit."
            )
