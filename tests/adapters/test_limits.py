"""RateLimiter: concurrency cap, per-minute buckets, header-learnt limits, 429 reactions.

Most tests run on a fake clock: `JumpClock` sleeps by moving time forward at once (for
one request after another), `ManualClock` keeps sleepers asleep until the test advances
it (for requests that overlap). One test sleeps for real, briefly.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import anyio
import httpx
import pytest

from fanflow import (
    ChatMessage,
    ConfigurationError,
    Generation,
    GenerationRequest,
    MockAdapter,
    OpenAIAdapter,
    RateLimited,
    Usage,
)
from fanflow.adapters import RateLimiter, RateLimitInfo, RetryingAdapter, RetryPolicy

from . import COMPLETION, JumpClock

REQUEST = GenerationRequest(messages=(ChatMessage("user", "Name a colour."),), model="tiny")
BASE = "http://127.0.0.1:8999/v1"

Answer = Callable[[GenerationRequest], Awaitable[str | Generation]]


class ManualClock:
    """`sleep` returns only once `advance()` has moved time past its end."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, anyio.Event]] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        wake = anyio.Event()
        self._sleepers.append((self.now + seconds, wake))
        await wake.wait()

    async def advance(self, seconds: float) -> None:
        """Move time on, wake the sleepers now due, and let everything run until blocked."""
        self.now += seconds
        due = [wake for until, wake in self._sleepers if until <= self.now]
        self._sleepers = [(until, wake) for until, wake in self._sleepers if until > self.now]
        for wake in due:
            wake.set()
        await anyio.wait_all_tasks_blocked()


class Recorder(MockAdapter):
    """Answers with `answer` (default "ok"); records the clock time of every call."""

    def __init__(self, clock: Callable[[], float], answer: Answer | None = None) -> None:
        super().__init__(self._call)
        self.called_at: list[float] = []
        self._clock = clock
        self._answer = answer

    async def _call(self, request: GenerationRequest) -> str | Generation:
        self.called_at.append(self._clock())
        return "ok" if self._answer is None else await self._answer(request)


def answered_from(script: list[str | RateLimited]) -> Answer:
    """Answers (or raises) the items of `script` in turn."""
    items = iter(script)

    async def answer(request: GenerationRequest) -> str:
        item = next(items)
        if isinstance(item, RateLimited):
            raise item
        return item

    return answer


def limiter(adapter: MockAdapter, clock: JumpClock | ManualClock, **limits: Any) -> RateLimiter:
    return RateLimiter(adapter, clock=clock, sleep=clock.sleep, **limits)


def answered(
    usage: Usage | None = None, rate_limits: RateLimitInfo | None = None
) -> Callable[[GenerationRequest], Awaitable[Generation]]:
    async def answer(request: GenerationRequest) -> Generation:
        return Generation(text="ok", usage=usage or Usage(), rate_limits=rate_limits)

    return answer


# --- no limits --------------------------------------------------------------------------


async def test_default_limiter_never_waits() -> None:
    async def no_sleep(seconds: float) -> None:
        raise AssertionError(f"slept {seconds} s")

    clock = JumpClock()
    inner = Recorder(clock)
    adapter = RateLimiter(inner, clock=clock, sleep=no_sleep)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for _ in range(50):
                tg.start_soon(adapter.generate, REQUEST)

    assert inner.calls == 50
    assert adapter.in_flight == 0
    assert adapter.requests_available is None
    assert adapter.tokens_available is None
    assert not adapter.is_paused


# --- in flight --------------------------------------------------------------------------


async def test_max_in_flight_is_never_exceeded() -> None:
    running = peak = 0
    release = anyio.Event()

    async def handler(request: GenerationRequest) -> str:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1
        return "ok"

    inner = MockAdapter(handler)
    adapter = RateLimiter(inner, max_in_flight=3)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(adapter.generate, REQUEST)
            await anyio.wait_all_tasks_blocked()
            assert (running, adapter.in_flight) == (3, 3)
            release.set()

    assert peak == 3
    assert inner.calls == 10
    assert adapter.in_flight == 0


# --- per-minute buckets -----------------------------------------------------------------


async def test_requests_per_minute_delays_the_request_over_the_limit() -> None:
    clock = JumpClock()
    inner = Recorder(clock)
    adapter = limiter(inner, clock, requests_per_minute=3)

    for _ in range(5):
        await adapter.generate(REQUEST)

    # Three at once (the bucket starts full), then one every 60/3 s as it refills.
    assert inner.called_at == pytest.approx([0.0, 0.0, 0.0, 20.0, 40.0])


def big_request(chars: int = 400, max_tokens: int = 500) -> GenerationRequest:
    """A request the limiter charges chars/4 + max_tokens tokens for."""
    return GenerationRequest(messages=(ChatMessage("user", "x" * chars),), max_tokens=max_tokens)


async def test_tokens_are_charged_then_refunded_from_usage() -> None:
    clock = JumpClock()
    inner = Recorder(clock, answered(Usage(prompt_tokens=90, completion_tokens=10)))
    adapter = limiter(inner, clock, tokens_per_minute=1000)

    await adapter.generate(big_request())  # charged 100 + 500, used 100

    assert adapter.tokens_available == pytest.approx(900.0)
    await adapter.generate(big_request())  # would wait 12 s without the refund
    assert inner.called_at == [0.0, 0.0]


async def test_tokens_used_beyond_the_estimate_are_charged_extra() -> None:
    clock = JumpClock()
    inner = Recorder(clock, answered(Usage(prompt_tokens=1000, completion_tokens=500)))
    adapter = limiter(inner, clock, tokens_per_minute=1000)

    await adapter.generate(big_request())  # charged 600, used 1500: 500 in debt
    assert adapter.tokens_available == pytest.approx(-500.0)
    await adapter.generate(big_request())

    # 1100 tokens missing at 1000 per minute.
    assert inner.called_at == pytest.approx([0.0, 66.0])


async def test_tokens_stay_charged_when_no_usage_is_reported() -> None:
    clock = JumpClock()
    adapter = limiter(Recorder(clock, answered(Usage())), clock, tokens_per_minute=1000)

    await adapter.generate(big_request())

    assert adapter.tokens_available == pytest.approx(400.0)


async def test_a_request_larger_than_the_bucket_waits_for_it_full() -> None:
    clock = JumpClock()
    inner = Recorder(clock, answered(Usage()))
    adapter = limiter(inner, clock, tokens_per_minute=100)

    await adapter.generate(big_request())  # 600 > 100: sent with the bucket full
    await adapter.generate(big_request())

    # 500 in debt, then back to full (100): 600 tokens at 100 per minute.
    assert inner.called_at == pytest.approx([0.0, 360.0])


# --- rate-limit headers -----------------------------------------------------------------


async def test_header_limits_seed_the_buckets() -> None:
    clock = JumpClock()
    info = RateLimitInfo(limit_requests=2, remaining_requests=1, limit_tokens=10_000)
    inner = Recorder(clock, answered(rate_limits=info))
    adapter = limiter(inner, clock)

    for _ in range(3):
        await adapter.generate(REQUEST)

    # Seeded after the first answer with 1 of 2 left; then one every 30 s.
    assert inner.called_at == pytest.approx([0.0, 0.0, 30.0])
    assert adapter.tokens_available is not None


async def test_explicit_limits_win_over_header_limits() -> None:
    clock = JumpClock()
    info = RateLimitInfo(limit_requests=2, remaining_requests=1)
    adapter = limiter(Recorder(clock, answered(rate_limits=info)), clock, requests_per_minute=600)

    await adapter.generate(REQUEST)

    assert adapter.requests_available == pytest.approx(599.0)


async def test_remaining_zero_pauses_until_the_reset() -> None:
    clock = JumpClock()
    info = RateLimitInfo(remaining_tokens=0, reset_tokens_s=6.0)
    inner = Recorder(clock, answered(rate_limits=info))
    adapter = limiter(inner, clock)

    await adapter.generate(REQUEST)
    assert adapter.is_paused
    assert adapter.paused_until == 6.0
    await adapter.generate(REQUEST)

    assert inner.called_at == [0.0, 6.0]


async def test_remaining_zero_refills_at_the_rate_limit_and_reset_imply() -> None:
    # OpenAI's reset is the time until the limit is full again: 120 requests in 59.9 s.
    clock = JumpClock()
    info = RateLimitInfo(limit_requests=120, remaining_requests=0, reset_requests_s=59.9)
    inner = Recorder(clock, answered(rate_limits=info))
    adapter = limiter(inner, clock)

    for _ in range(3):
        await adapter.generate(REQUEST)

    first, second, third = inner.called_at
    assert first == 0.0
    assert second == pytest.approx(59.9 / 120)  # one request's worth, not the whole reset
    assert third - second == pytest.approx(59.9 / 120)


async def test_headers_are_ignored_when_told_to() -> None:
    clock = JumpClock()
    info = RateLimitInfo(limit_requests=1, remaining_requests=0, reset_requests_s=60.0)
    adapter = limiter(Recorder(clock, answered(rate_limits=info)), clock, use_headers=False)

    await adapter.generate(REQUEST)

    assert not adapter.is_paused
    assert adapter.requests_available is None


# --- 429s: concurrency, spent quotas, probes ---------------------------------------------


def ask(text: str) -> GenerationRequest:
    return GenerationRequest(messages=(ChatMessage("user", text),))


async def test_a_429_halves_the_concurrency_and_pauses_nothing() -> None:
    clock = ManualClock()
    release = anyio.Event()
    limited = RateLimited("slow down", retry_after=3600.0)

    async def answer(request: GenerationRequest) -> str:
        if request.messages[0].content == "limited":
            raise limited
        await release.wait()
        return "ok"

    inner = Recorder(clock, answer)
    adapter = limiter(inner, clock)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for _ in range(7):
                tg.start_soon(adapter.generate, ask("slow"))
            await anyio.wait_all_tasks_blocked()
            with pytest.raises(RateLimited) as caught:
                await adapter.generate(ask("limited"))
            assert caught.value is limited  # re-raised unchanged, for the retry wrapper
            assert not adapter.is_paused  # one 429 never holds back the other requests
            assert adapter.concurrency == 4  # 8 were in flight
            tg.start_soon(adapter.generate, ask("later"))
            await anyio.wait_all_tasks_blocked()
            assert inner.calls == 8  # "later" waits: 7 in flight is above the window
            release.set()

    assert inner.calls == 9
    assert adapter.concurrency == math.inf  # successes grew it back past the old load


async def test_random_429s_between_successes_never_pause_the_endpoint() -> None:
    clock = JumpClock()
    script = [RateLimited("slow down", retry_after=30.0), "ok"] * 5
    inner = Recorder(clock, answered_from(script))
    adapter = limiter(inner, clock)

    for _ in script:
        with contextlib.suppress(RateLimited):
            await adapter.generate(REQUEST)

    assert not adapter.is_paused
    assert inner.called_at == [0.0] * 10


async def test_most_requests_in_flight_limited_pause_the_endpoint_then_one_probe_goes() -> None:
    clock = ManualClock()
    release_first, release_probe = anyio.Event(), anyio.Event()
    entered: list[str] = []

    async def answer(request: GenerationRequest) -> str:
        text = request.messages[0].content
        entered.append(text)
        if text == "first":
            await release_first.wait()
            raise RateLimited("quota spent", retry_after=5.0)
        await release_probe.wait()
        return "ok"

    adapter = limiter(Recorder(clock, answer), clock)
    failures: list[RateLimited] = []

    async def first() -> None:
        try:
            await adapter.generate(ask("first"))
        except RateLimited as exc:
            failures.append(exc)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(first)
            await anyio.wait_all_tasks_blocked()
            release_first.set()
            await anyio.wait_all_tasks_blocked()
            assert len(failures) == 4
            assert adapter.is_paused and adapter.paused_until == 5.0
            assert adapter.concurrency == 1
            for _ in range(3):
                tg.start_soon(adapter.generate, ask("later"))
            await clock.advance(4.9)
            assert entered.count("later") == 0
            await clock.advance(0.1)
            assert entered.count("later") == 1  # one probe, the others wait for its answer
            release_probe.set()

    assert entered.count("later") == 3
    assert not adapter.is_paused


async def test_a_429_to_the_probe_pauses_again() -> None:
    clock = JumpClock()
    spent = [RateLimited("quota spent")] * 4  # no Retry-After: pauses of 1 s
    inner = Recorder(clock, answered_from([*spent, "ok"]))
    adapter = limiter(inner, clock)

    for _ in spent:
        with pytest.raises(RateLimited):
            await adapter.generate(REQUEST)
    await adapter.generate(REQUEST)

    assert inner.called_at == [0.0, 0.0, 0.0, 1.0, 2.0]


async def test_a_quota_pause_never_exceeds_max_pause() -> None:
    clock = JumpClock()
    spent = [RateLimited("quota spent", retry_after=3600.0)] * 3
    adapter = limiter(Recorder(clock, answered_from(spent)), clock, max_pause=60.0)

    for _ in spent:
        with pytest.raises(RateLimited):
            await adapter.generate(REQUEST)

    assert adapter.paused_until == 60.0


async def test_a_spent_quota_pause_with_real_sleep() -> None:
    limited_at: list[float] = []

    def handler(request: GenerationRequest) -> str:
        if len(limited_at) < 3:
            limited_at.append(time.monotonic())
            raise RateLimited("slow down", retry_after=0.05)
        return "ok"

    adapter = RateLimiter(MockAdapter(handler))
    for _ in range(3):
        with pytest.raises(RateLimited):
            await adapter.generate(REQUEST)
    with anyio.fail_after(5):
        await adapter.generate(REQUEST)

    assert time.monotonic() - limited_at[-1] >= 0.045  # clocks may round a hair early


async def test_retries_queue_behind_the_pause() -> None:
    clock = JumpClock()
    errors = [RateLimited("slow down")] * 3  # no Retry-After: a spent quota pauses 1 s

    async def answer(request: GenerationRequest) -> str:
        if errors:
            raise errors.pop()
        return "ok"

    inner = Recorder(clock, answer)
    policy = RetryPolicy(initial_backoff=0.0, jitter=0.0)
    adapter = RetryingAdapter(limiter(inner, clock), policy, sleep=clock.sleep)

    generation = await adapter.generate(REQUEST)

    # The retry wrapper waits nothing; the limiter under it holds the retry for 1 s.
    assert generation.attempts == 4
    assert inner.called_at == [0.0, 0.0, 0.0, 1.0]


# --- waiting is orderly and cancellable -------------------------------------------------


async def test_waiting_requests_are_sent_in_arrival_order() -> None:
    clock = ManualClock()
    order: list[str] = []

    async def answer(request: GenerationRequest) -> str:
        order.append(request.messages[0].content)
        return "ok"

    adapter = limiter(Recorder(clock, answer), clock, requests_per_minute=1)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for name in "abcd":
                tg.start_soon(adapter.generate, GenerationRequest((ChatMessage("user", name),)))
                await anyio.wait_all_tasks_blocked()
            for _ in range(3):
                await clock.advance(60.0)

    assert order == list("abcd")


async def test_a_request_arriving_as_a_pause_ends_queues_behind_the_waiting_ones() -> None:
    clock = ManualClock()
    order: list[str] = []

    async def answer(request: GenerationRequest) -> str:
        name = request.messages[0].content
        order.append(name)
        if name == "limited":
            raise RateLimited("slow down", retry_after=5.0)
        return "ok"

    adapter = limiter(Recorder(clock, answer), clock)

    def ask(name: str) -> Callable[[], Coroutine[Any, Any, Generation]]:
        return lambda: adapter.generate(GenerationRequest((ChatMessage("user", name),)))

    with anyio.fail_after(5):
        for _ in range(3):  # three 429s in a row: the quota is spent, the endpoint pauses
            with pytest.raises(RateLimited):
                await ask("limited")()
        async with anyio.create_task_group() as tg:
            for name in ("a", "b"):
                tg.start_soon(ask(name))
                await anyio.wait_all_tasks_blocked()
            clock.now = 5.0  # the pause is over, but the sleeper's timer has not fired yet
            tg.start_soon(ask("c"))
            await anyio.wait_all_tasks_blocked()
            await clock.advance(0.0)

    assert order == ["limited"] * 3 + ["a", "b", "c"]


async def test_cancelling_a_waiting_request_charges_nothing() -> None:
    clock = ManualClock()
    inner = Recorder(clock)
    adapter = limiter(inner, clock, requests_per_minute=1)
    await adapter.generate(REQUEST)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(adapter.generate, REQUEST)
            await anyio.wait_all_tasks_blocked()
            tg.cancel_scope.cancel()
        await clock.advance(60.0)
        assert adapter.requests_available == pytest.approx(1.0)
        async with anyio.create_task_group() as tg:
            tg.start_soon(adapter.generate, REQUEST)

    assert inner.called_at == [0.0, 60.0]
    assert adapter.in_flight == 0


# --- the rest ---------------------------------------------------------------------------


async def test_aclose_closes_the_wrapped_adapter_and_repr_shows_limits() -> None:
    closed: list[bool] = []

    class Closing(MockAdapter):
        async def aclose(self) -> None:
            closed.append(True)

    inner = Closing(lambda _: "ok")
    async with RateLimiter(inner, max_in_flight=8, requests_per_minute=500) as adapter:
        assert repr(adapter).startswith(f"RateLimiter({inner!r}, max_in_flight=8, ")
        assert "requests_per_minute=500" in repr(adapter)
    assert closed == [True]


@pytest.mark.parametrize(
    "limits",
    [
        {"max_in_flight": 0},
        {"requests_per_minute": 0},
        {"tokens_per_minute": -5},
        {"requests_per_minute": float("nan")},
    ],
)
def test_bad_limits_are_configuration_errors(limits: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="RateLimiter"):
        RateLimiter(MockAdapter(lambda _: "ok"), **limits)


# --- OpenAIAdapter reads the headers ----------------------------------------------------


async def answer_with_headers(headers: dict[str, str]) -> Generation:
    """What OpenAIAdapter makes of a completion sent with `headers`."""

    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=COMPLETION, headers=headers)

    async with httpx.AsyncClient(transport=httpx.MockTransport(respond)) as client:
        return await OpenAIAdapter(BASE, model="m", http_client=client).generate(REQUEST)


async def test_openai_adapter_reads_rate_limit_headers() -> None:
    generation = await answer_with_headers(
        {
            "x-ratelimit-limit-requests": "10000",
            "x-ratelimit-remaining-requests": "9999",
            "x-ratelimit-reset-requests": "6ms",
            "x-ratelimit-limit-tokens": "2000000",
            "x-ratelimit-remaining-tokens": "1999000",
            "x-ratelimit-reset-tokens": "6m0s",
        }
    )

    assert generation.rate_limits == RateLimitInfo(
        limit_requests=10000,
        remaining_requests=9999,
        reset_requests_s=pytest.approx(0.006),  # type: ignore[arg-type]
        limit_tokens=2_000_000,
        remaining_tokens=1_999_000,
        reset_tokens_s=360.0,
    )
    assert generation.attempts == 1


@pytest.mark.parametrize(
    ("reset", "seconds"),
    [
        ("1s", 1.0),
        ("20ms", 0.02),
        ("1h2m3.5s", 3723.5),
        ("0.5", 0.5),
        ("250us", 0.00025),
        ("soon", None),
        ("5x", None),
        ("1s junk", None),
        ("", None),
    ],
)
async def test_reset_durations(reset: str, seconds: float | None) -> None:
    headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": reset}

    generation = await answer_with_headers(headers)

    assert generation.rate_limits is not None
    assert generation.rate_limits.remaining_requests == 0
    assert generation.rate_limits.limit_requests is None
    assert generation.rate_limits.reset_requests_s == pytest.approx(seconds)


async def test_no_rate_limit_headers_means_no_rate_limits() -> None:
    assert (await answer_with_headers({})).rate_limits is None


def test_connect_timeout_reaches_the_default_transport() -> None:
    adapter = OpenAIAdapter(BASE, model="m", timeout=30.0, connect_timeout=2.5)
    assert "connect_timeout=2.5" in repr(adapter._transport)
