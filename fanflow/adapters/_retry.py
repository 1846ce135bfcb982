"""Retry failed requests with exponential backoff and jitter, honouring `Retry-After`.

A wrapper rather than a feature of each adapter, so every adapter (and the rate limiter
under it) gets the same policy. Only errors whose `retryable` is True are retried: a
timeout, a dropped connection, a 429, a 5xx or a garbled 2xx may succeed on a second try;
a 400 or 401 will fail the same way again, so it is raised at once with the provider's
message. tenacity runs the loop; the decisions (what to retry, how long to wait, the
shared budget) live in the small methods below. tenacity is imported when a request
first fails, not before.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, ClassVar

import anyio

from fanflow._exceptions import AdapterError, ConfigurationError, ProviderError, RateLimited
from fanflow.adapters._types import Generation, GenerationRequest, LLMAdapter
from fanflow.adapters._wrapper import WrappingAdapter, note_cut_off

if TYPE_CHECKING:
    from tenacity import AsyncRetrying, RetryCallState
    from tenacity.wait import wait_base

__all__ = ["RetryPolicy", "RetryingAdapter"]

Sleep = Callable[[float], Awaitable[None]]


@dataclasses.dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try: `attempts` in total per request, waits growing from
    `initial_backoff` (doubling, capped at `max_backoff`) plus up to `jitter` random
    seconds so that many failed requests do not return in step.

    `retry_budget` caps the retries of all requests through one `RetryingAdapter`: when an
    endpoint is down, thousands of requests each retrying five times would only multiply
    the load, so once the budget is spent errors are raised at once. A `Retry-After` (on
    a 429, a 503 or any retryable status) is always waited out; `max_retry_after` bounds
    how long it may make a request sleep: above it the error is raised at once.
    """

    attempts: int = 5
    initial_backoff: float = 0.5
    max_backoff: float = 30.0
    jitter: float = 1.0
    retry_budget: int | None = None
    max_retry_after: float = 300.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ConfigurationError(
                f"RetryPolicy(attempts={self.attempts}) must be at least 1 (1 means no retry)."
            )
        for name in ("initial_backoff", "max_backoff", "jitter", "max_retry_after"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigurationError(
                    f"RetryPolicy({name}={value!r}) must be a finite number of seconds >= 0."
                )
        if self.retry_budget is not None and self.retry_budget < 0:
            raise ConfigurationError(
                f"RetryPolicy(retry_budget={self.retry_budget}) must be >= 0, or None for no limit."
            )


class RetryingAdapter(WrappingAdapter):
    """Send each request through `adapter`, retrying retryable failures per `policy`.

    A `Generation` that needed retries comes back with `attempts` set to the requests
    sent for it (those an inner adapter reports included). A failure is re-raised as the
    same class with the same attributes, plus `attempts`; after more than one attempt, or
    when the policy (not the error) stopped retrying, the message says so. Cancellation
    is never retried and never delayed, and errors that are not `AdapterError`s pass
    through untouched.

    `retries` counts the retries sent so far. `sleep` replaces `anyio.sleep`, for tests
    that do not want to wait.
    """

    retrying: ClassVar[bool] = True

    def __init__(
        self,
        adapter: LLMAdapter,
        policy: RetryPolicy | None = None,
        *,
        sleep: Sleep = anyio.sleep,
    ) -> None:
        super().__init__(adapter)
        self.policy = policy if policy is not None else RetryPolicy()
        self.retries = 0
        self._budget_left = self.policy.retry_budget
        self._sleep = sleep
        self._retrying: AsyncRetrying | None = None

    def __repr__(self) -> str:
        return f"RetryingAdapter({self.wrapped!r}, {self.policy!r})"

    @property
    def budget_left(self) -> int | None:
        """Retries still allowed by `retry_budget`; None when there is no budget."""
        return self._budget_left

    async def generate(self, request: GenerationRequest) -> Generation:
        """Answer `request`, retrying as the policy allows."""
        try:
            return await self.wrapped.generate(request)
        except AdapterError as exc:
            first_error = exc
        # tenacity's loop runs only once the first attempt has failed (CPU per call:
        # bench/README.md); it is handed that attempt's error as its attempt 1.
        return await self._retry(request, first_error)

    async def _retry(self, request: GenerationRequest, first_error: AdapterError) -> Generation:
        tries = requests = 0
        latency = 0.0  # of the failed attempts (`latency_s` on their errors, if they say)
        try:
            async for attempt in self._template().copy():
                with attempt:
                    tries = attempt.retry_state.attempt_number
                    if tries == 1:
                        raise first_error
                    self.retries += 1
                    generation = await self._send_again(request, requests)
                requests += _failed_requests(attempt.retry_state)
                latency += _failed_latency(attempt.retry_state)
        except AdapterError as exc:
            prefix = self._give_up_prefix(exc, tries)
            final = exc.with_context(prefix, attempts=requests, latency_s=latency)
            raise final.with_traceback(exc.__traceback__) from exc.__cause__
        except BaseException as exc:  # cancelled while backing off: what was sent so far
            if not hasattr(exc, "attempts"):
                note_cut_off(exc, requests)
            raise
        return dataclasses.replace(
            generation,
            attempts=requests + generation.attempts,
            latency_s=latency + generation.latency_s,
        )

    async def _send_again(self, request: GenerationRequest, sent_before: int) -> Generation:
        """One retry; if a timeout cuts it off, the requests sent for the call say so."""
        try:
            return await self.wrapped.generate(request)
        except BaseException as exc:
            if not isinstance(exc, Exception):
                note_cut_off(exc, sent_before + getattr(exc, "attempts", 1))
            raise

    def _template(self) -> AsyncRetrying:
        """The tenacity loop, built on the first failure (importing tenacity then).

        A template: tenacity keeps per-run state on the object, so each call runs a copy.
        """
        if self._retrying is None:
            from tenacity import AsyncRetrying, stop_after_attempt
            from tenacity.wait import wait_exponential, wait_random

            policy = self.policy
            backoff = wait_exponential(
                multiplier=policy.initial_backoff, max=policy.max_backoff
            ) + wait_random(0, policy.jitter)
            self._retrying = AsyncRetrying(
                sleep=self._sleep,
                stop=stop_after_attempt(policy.attempts),
                wait=functools.partial(self._wait, backoff),
                retry=self._should_retry,
                reraise=True,
            )
        return self._retrying

    def _should_retry(self, state: RetryCallState) -> bool:
        """Decide on a retry and, if yes, take it from the budget at once.

        Taking it here rather than when the retry is sent means concurrent requests
        cannot all see the last unit of budget during their backoff sleeps.
        """
        if state.outcome is None or not state.outcome.failed:
            return False
        error = state.outcome.exception()
        if not isinstance(error, AdapterError):
            return False  # cancellation, bugs, ParseError: never retried
        if self._stop_reason(error, state.attempt_number) is not None:
            return False
        if self._budget_left is not None:
            self._budget_left -= 1
        return True

    def _stop_reason(self, error: AdapterError, attempts: int) -> str | None:
        """Why `error` after `attempts` requests ends the retrying, or None to retry."""
        if not error.retryable:
            return "not retryable"
        if attempts >= self.policy.attempts:
            return "attempt limit reached"
        retry_after = _retry_after(error)
        if retry_after is not None and retry_after > self.policy.max_retry_after:
            return (
                f"Retry-After {retry_after:g} s is above max_retry_after="
                f"{self.policy.max_retry_after:g} s"
            )
        if self._budget_left is not None and self._budget_left <= 0:
            return f"retry_budget={self.policy.retry_budget} is spent"
        return None

    def _give_up_prefix(self, error: AdapterError, attempts: int) -> str:
        """The words leading the final error's message; empty for a plain first failure."""
        if not error.retryable and attempts == 1:
            return ""
        reason = self._stop_reason(error, attempts) or "retrying stopped"
        plural = "s" if attempts != 1 else ""
        return f"Gave up after {attempts} attempt{plural} ({reason}): "

    def _wait(self, backoff_with_jitter: wait_base, state: RetryCallState) -> float:
        """The server's `Retry-After` (any status) as given, else backoff with jitter.

        Like the official OpenAI SDK, a server that says when to come back is taken at its
        word: adding the backoff on top would only lengthen the tail of a run, and the
        rate limiter below spreads the retries of a spent quota by itself.
        """
        error = state.outcome.exception() if state.outcome is not None else None
        retry_after = _retry_after(error)
        if retry_after is not None:
            return retry_after
        return float(backoff_with_jitter(state))


def _retry_after(error: BaseException | None) -> float | None:
    """The Retry-After an error carries (a 429, a 503, ...), or None."""
    if isinstance(error, (RateLimited, ProviderError)):
        return error.retry_after
    return None


def _failed_latency(state: RetryCallState) -> float:
    """Seconds a failed attempt took from sending to its answer, when its error says."""
    outcome = state.outcome
    if outcome is None or not outcome.failed:
        return 0.0
    latency = getattr(outcome.exception(), "latency_s", 0.0)
    return latency if isinstance(latency, float) else 0.0


def _failed_requests(state: RetryCallState) -> int:
    """Requests behind a failed attempt: 1, or the `attempts` its error reports (when the
    adapter under this one retried or failed over by itself); 0 for a success."""
    outcome = state.outcome
    if outcome is None or not outcome.failed:
        return 0
    count = getattr(outcome.exception(), "attempts", 1)
    return count if isinstance(count, int) and count >= 1 else 1
