from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from fanflow import (
    ChatMessage,
    ConfigurationError,
    Endpoint,
    EndpointPool,
    Generation,
    GenerationRequest,
    MockAdapter,
    OpenAIAdapter,
    ProviderError,
    RateLimited,
    RateLimiter,
    TransportError,
)
from fanflow.adapters import EndpointStats
from fanflow.testing import MockServer

from . import JumpClock


def ask(text: str = "hi", model: str | None = None) -> GenerationRequest:
    return GenerationRequest(messages=(ChatMessage("user", text),), model=model)


def answering(text: str) -> MockAdapter:
    return MockAdapter(lambda request: text)


def raising(error: Exception) -> MockAdapter:
    def handler(request: GenerationRequest) -> str:
        raise error

    return MockAdapter(handler)


def dead(name: str = "dead") -> MockAdapter:
    return raising(TransportError(f"{name}: connection refused", endpoint=name))


class Clock:
    """A clock the test moves by hand, so health timing needs no real waiting."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Gate:
    """Handlers that park on an event, so a test can hold requests in flight and count them."""

    def __init__(self) -> None:
        self.open = anyio.Event()
        self.entered: list[str] = []
        self._arrivals: list[tuple[int, anyio.Event]] = []

    def handler(self, label: str) -> Callable[[GenerationRequest], Awaitable[str]]:
        async def handle(request: GenerationRequest) -> str:
            self.entered.append(label)
            for count, arrived in self._arrivals:
                if len(self.entered) >= count:
                    arrived.set()
            await self.open.wait()
            return label

        return handle

    async def reached(self, count: int) -> None:
        """Wait until `count` requests have entered the handlers."""
        if len(self.entered) < count:
            arrived = anyio.Event()
            self._arrivals.append((count, arrived))
            await arrived.wait()


async def paused_for(seconds: float, text: str) -> tuple[RateLimiter, MockAdapter]:
    """An endpoint paused by a spent quota (three 429s in a row with Retry-After
    `seconds`), which then answers `text` (waiting out the pause on a clock of its own
    that jumps); and the adapter behind it."""
    inner = MockAdapter([RateLimited("slow down", retry_after=seconds)] * 3 + [text])
    clock = JumpClock()
    limiter = RateLimiter(inner, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        with pytest.raises(RateLimited):
            await limiter.generate(ask())
    return limiter, inner


class Closing(MockAdapter):
    """A MockAdapter that records its `aclose()` and may fail it."""

    def __init__(self, close_error: Exception | None = None) -> None:
        super().__init__(lambda request: "ok")
        self.closed = False
        self.close_error = close_error

    async def aclose(self) -> None:
        self.closed = True
        if self.close_error is not None:
            raise self.close_error


def spawn(pool: EndpointPool, *requests: GenerationRequest) -> list[asyncio.Task[Generation]]:
    return [asyncio.create_task(pool.generate(request)) for request in requests]


def stats(pool: EndpointPool) -> dict[str, EndpointStats]:
    return {s.name: s for s in pool.snapshot()}


# --- routing ----------------------------------------------------------------------------


async def test_routes_by_model_and_model_none_goes_anywhere() -> None:
    small, large = answering("small"), answering("large")
    pool = EndpointPool(
        [Endpoint(small, models=["s-1", "s-2"]), Endpoint(large, models=["l-1"], name="big")]
    )
    assert (await pool.generate(ask(model="s-2"))).text == "small"
    assert (await pool.generate(ask(model="l-1"))).text == "large"
    assert {(await pool.generate(ask())).text for _ in range(2)} == {"small", "large"}


async def test_unknown_model_is_a_configuration_error_naming_what_is_served() -> None:
    pool = EndpointPool([Endpoint(answering("a"), models=["alpha", "beta"])])
    with pytest.raises(ConfigurationError, match=r"'gamma'.*'alpha', 'beta'"):
        await pool.generate(ask(model="gamma"))


async def test_sequential_requests_go_round_robin() -> None:
    adapters = [answering(str(i)) for i in range(3)]
    pool = EndpointPool(adapters)
    texts = [(await pool.generate(ask())).text for _ in range(6)]
    assert texts == ["0", "1", "2", "0", "1", "2"]


async def test_least_in_flight_spreads_concurrent_requests_evenly() -> None:
    gate = Gate()
    pool = EndpointPool([MockAdapter(gate.handler(name)) for name in "abc"])
    tasks = spawn(pool, *(ask() for _ in range(9)))
    await gate.reached(9)
    assert Counter(gate.entered) == {"a": 3, "b": 3, "c": 3}
    assert [s.in_flight for s in pool.snapshot()] == [3, 3, 3]
    gate.open.set()
    assert sorted(g.text for g in await asyncio.gather(*tasks)) == list("aaabbbccc")
    assert [(s.in_flight, s.ok) for s in pool.snapshot()] == [(0, 3)] * 3


async def test_paused_endpoint_is_avoided_while_another_exists() -> None:
    paused, behind = await paused_for(5.0, "paused")
    pool = EndpointPool([paused, answering("free")])
    assert [(await pool.generate(ask())).text for _ in range(3)] == ["free"] * 3
    assert behind.calls == 3  # only the 429s that paused it
    assert [s.paused for s in pool.snapshot()] == [True, False]


async def test_when_all_are_paused_the_one_resuming_soonest_is_used() -> None:
    (later, _), (sooner, _) = await paused_for(9.0, "later"), await paused_for(2.0, "sooner")
    pool = EndpointPool([later, sooner])
    assert (await pool.generate(ask())).text == "sooner"


async def test_a_paused_endpoint_is_used_rather_than_waiting_for_a_full_one() -> None:
    gate = Gate()
    paused, _ = await paused_for(5.0, "paused")
    pool = EndpointPool([Endpoint(MockAdapter(gate.handler("busy")), max_in_flight=1), paused])
    (held,) = spawn(pool, ask())
    await gate.reached(1)
    assert gate.entered == ["busy"]
    assert (await pool.generate(ask())).text == "paused"
    gate.open.set()
    await held


# --- max_in_flight ----------------------------------------------------------------------


async def test_max_in_flight_is_respected_and_waiters_go_in_order() -> None:
    order: list[str] = []
    gate = anyio.Event()
    active = peak = 0

    async def handler(request: GenerationRequest) -> str:
        nonlocal active, peak
        text = request.messages[0].content
        order.append(text)
        active += 1
        peak = max(peak, active)
        await gate.wait()
        active -= 1
        return text

    pool = EndpointPool([Endpoint(MockAdapter(handler), max_in_flight=2)])
    tasks = spawn(pool, *(ask(str(i)) for i in range(5)))
    await anyio.wait_all_tasks_blocked()
    assert pool.waiting == 3
    assert order == ["0", "1"]
    gate.set()
    assert [g.text for g in await asyncio.gather(*tasks)] == ["0", "1", "2", "3", "4"]
    assert order == ["0", "1", "2", "3", "4"]
    assert peak == 2
    assert pool.waiting == 0


async def test_endpoints_with_capacity_are_preferred() -> None:
    gate = Gate()
    capped = Endpoint(MockAdapter(gate.handler("capped")), max_in_flight=1)
    pool = EndpointPool([capped, MockAdapter(gate.handler("open"))])
    tasks = spawn(pool, *(ask() for _ in range(4)))
    await gate.reached(4)
    assert Counter(gate.entered) == {"capped": 1, "open": 3}
    assert pool.waiting == 0
    gate.open.set()
    await asyncio.gather(*tasks)


async def test_cancelling_a_waiting_request_is_clean() -> None:
    gate = Gate()
    pool = EndpointPool([Endpoint(MockAdapter(gate.handler("x")), max_in_flight=1)])
    first, second, third = spawn(pool, ask(), ask(), ask())
    await anyio.wait_all_tasks_blocked()
    assert pool.waiting == 2
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    assert pool.waiting == 1
    gate.open.set()
    assert [(await t).text for t in (first, third)] == ["x", "x"]
    assert gate.entered == ["x", "x"]
    assert [(s.in_flight, s.ok, s.failed) for s in pool.snapshot()] == [(0, 2, 0)]


async def test_cancelling_a_request_just_handed_a_slot_passes_the_slot_on() -> None:
    # The test body awaits the first request itself, so it resumes in the very loop step
    # in which that request frees its slot and hands it to "second": cancelling "second"
    # then must give the slot on to "third" rather than leak it.
    gate = Gate()
    pool = EndpointPool([Endpoint(MockAdapter(gate.handler("x")), max_in_flight=1)])
    queued: list[asyncio.Task[Generation]] = []

    async def queue_two_then_open() -> None:
        await gate.reached(1)
        queued.extend(spawn(pool, ask("second"), ask("third")))
        await anyio.wait_all_tasks_blocked()
        assert pool.waiting == 2
        gate.open.set()

    opener = asyncio.create_task(queue_two_then_open())
    await pool.generate(ask("first"))
    second, third = queued
    second.cancel()
    assert (await third).text == "x"
    with pytest.raises(asyncio.CancelledError):
        await second
    await opener
    assert len(gate.entered) == 2
    assert [(s.in_flight, s.ok) for s in pool.snapshot()] == [(0, 2)]
    assert pool.waiting == 0


# --- failover ---------------------------------------------------------------------------


async def test_retryable_failure_fails_over_and_the_answer_comes_back() -> None:
    broken, good = dead("a"), answering("from b")
    pool = EndpointPool([Endpoint(broken, name="a"), Endpoint(good, name="b")])
    generation = await pool.generate(ask())
    assert generation.text == "from b"
    assert generation.endpoint == "mock"  # the inner adapter's own name is kept
    assert getattr(generation, "attempts", 2) == 2
    assert (broken.calls, good.calls) == (1, 1)
    assert [(s.name, s.ok, s.failed) for s in pool.snapshot()] == [("a", 0, 1), ("b", 1, 0)]


@pytest.mark.parametrize(
    "error",
    [
        RateLimited("slow down", retry_after=3.0),
        ProviderError("bad gateway", status_code=502),
        ProviderError("garbled body", status_code=200),
    ],
)
async def test_rate_limits_server_errors_and_bad_bodies_fail_over(error: Exception) -> None:
    pool = EndpointPool([raising(error), answering("ok")])
    assert (await pool.generate(ask())).text == "ok"


@pytest.mark.parametrize("status", [400, 401])
async def test_client_errors_do_not_fail_over(status: int) -> None:
    error = ProviderError("no", status_code=status)
    other = answering("never")
    pool = EndpointPool([raising(error), other])
    with pytest.raises(ProviderError) as caught:
        await pool.generate(ask())
    assert caught.value is error
    assert other.calls == 0


async def test_failover_off_raises_the_first_error() -> None:
    error = TransportError("refused")
    other = answering("never")
    pool = EndpointPool([raising(error), other], failover=False)
    with pytest.raises(TransportError) as caught:
        await pool.generate(ask())
    assert caught.value is error
    assert other.calls == 0


async def test_all_failing_raises_the_last_error_naming_every_endpoint() -> None:
    last = RateLimited("429 at c", endpoint="http://c", retry_after=7.0)
    pool = EndpointPool(
        [
            Endpoint(dead(), name="a"),
            Endpoint(raising(ProviderError("503", status_code=503)), name="b"),
            Endpoint(raising(last), name="c"),
            Endpoint(answering("elsewhere"), models=["other"], name="d"),
        ]
    )
    with pytest.raises(RateLimited) as caught:
        await pool.generate(ask(model="m"))
    error = caught.value
    assert "all 3 endpoints serving model 'm' failed (tried a, b, c)" in str(error)
    assert str(error).endswith("429 at c")
    assert (error.retry_after, error.endpoint) == (7.0, "http://c")
    assert error.__cause__ is last


async def test_generation_without_endpoint_gets_the_endpoint_name() -> None:
    pool = EndpointPool([Endpoint(MockAdapter(lambda r: Generation(text="t")), name="gpu-1")])
    assert (await pool.generate(ask())).endpoint == "gpu-1"


# --- health -----------------------------------------------------------------------------


async def test_endpoint_is_unhealthy_after_threshold_and_probed_after_probe_after() -> None:
    clock = Clock()
    broken, good = dead(), answering("ok")
    pool = EndpointPool(
        [Endpoint(broken, name="a"), Endpoint(good, name="b")],
        failure_threshold=2,
        probe_after=10.0,
        clock=clock,
    )
    for _ in range(6):
        assert (await pool.generate(ask())).text == "ok"
    assert broken.calls == 2  # after two failures in a row, nothing more is sent there
    assert not stats(pool)["a"].healthy

    clock.now = 9.9
    await pool.generate(ask())
    assert broken.calls == 2
    clock.now = 10.0
    await pool.generate(ask())
    assert broken.calls == 3  # the probe
    await pool.generate(ask())
    assert broken.calls == 3  # it failed: unhealthy for another probe_after
    clock.now = 20.0
    await pool.generate(ask())
    assert broken.calls == 4


async def test_a_due_probe_takes_the_next_request() -> None:
    clock = Clock()
    broken = dead()
    pool = EndpointPool(
        [broken, answering("b"), answering("c")], failure_threshold=1, probe_after=1.0, clock=clock
    )
    assert (await pool.generate(ask())).text == "b"  # a failed over to b; c is next in turn
    clock.now = 1.0
    assert (await pool.generate(ask())).text == "b"  # a was probed first, and failed again
    assert broken.calls == 2


async def test_successful_probe_restores_the_endpoint() -> None:
    clock = Clock()
    down = True

    def flaky(request: GenerationRequest) -> str:
        if down:
            raise TransportError("timed out")
        return "back"

    pool = EndpointPool(
        [Endpoint(MockAdapter(flaky), name="a"), Endpoint(answering("ok"), name="b")],
        failure_threshold=1,
        probe_after=5.0,
        clock=clock,
    )
    await pool.generate(ask())
    assert not stats(pool)["a"].healthy
    down, clock.now = False, 5.0
    assert (await pool.generate(ask())).text == "back"
    assert stats(pool)["a"].healthy
    assert [(await pool.generate(ask())).text for _ in range(2)] == ["ok", "back"]


async def test_half_open_lets_exactly_one_probe_through() -> None:
    clock = Clock()
    gate = Gate()
    down = True

    async def flaky(request: GenerationRequest) -> str:
        if down:
            raise TransportError("reset")
        return await gate.handler("a")(request)

    flaky_adapter = MockAdapter(flaky)
    pool = EndpointPool(
        [Endpoint(flaky_adapter, name="a"), Endpoint(answering("b"), name="b")],
        failure_threshold=1,
        probe_after=5.0,
        clock=clock,
    )
    await pool.generate(ask())
    down, clock.now = False, 5.0
    (probe,) = spawn(pool, ask())
    await gate.reached(1)
    assert gate.entered == ["a"]
    assert [(await pool.generate(ask())).text for _ in range(3)] == ["b", "b", "b"]
    assert flaky_adapter.calls == 2
    gate.open.set()
    assert (await probe).text == "a"
    assert stats(pool)["a"].healthy


async def test_waiting_requests_keep_their_place_when_a_probe_falls_due() -> None:
    clock = Clock()
    gate = Gate()
    seen: list[str] = []

    def recovering(request: GenerationRequest) -> str:
        seen.append(request.messages[0].content)
        if len(seen) == 1:
            raise TransportError("refused")
        return seen[-1]

    pool = EndpointPool(
        [MockAdapter(recovering), Endpoint(MockAdapter(gate.handler("b")), max_in_flight=1)],
        failure_threshold=1,
        probe_after=1.0,
        clock=clock,
    )
    (held,) = spawn(pool, ask("first"))  # fails on the first endpoint, then holds the second
    await gate.reached(1)
    assert gate.entered == ["b"]
    (waiter,) = spawn(pool, ask("waiter"))
    await anyio.wait_all_tasks_blocked()
    assert pool.waiting == 1
    clock.now = 1.0
    (late,) = spawn(pool, ask("late"))
    assert (await waiter).text == "waiter"
    assert (await late).text == "late"
    assert seen == ["first", "waiter", "late"]  # the probe slot went to the one in line
    gate.open.set()
    assert (await held).text == "b"


async def test_error_answers_show_the_endpoint_is_alive() -> None:
    errors = iter([TransportError("reset"), ProviderError("oops", status_code=500)] * 2)

    def handler(request: GenerationRequest) -> str:
        raise next(errors)

    pool = EndpointPool([MockAdapter(handler)], failure_threshold=2, failover=False)
    for _ in range(4):
        with contextlib.suppress(TransportError, ProviderError):
            await pool.generate(ask())
    (only,) = pool.snapshot()
    assert (only.healthy, only.failed) == (True, 4)


async def test_a_success_resets_the_failure_count() -> None:
    outcomes = iter([True, False, True, False, True])

    def sometimes(request: GenerationRequest) -> str:
        if next(outcomes):
            raise TransportError("blip")
        return "ok"

    pool = EndpointPool([MockAdapter(sometimes)], failure_threshold=2, failover=False)
    for _ in range(5):
        with contextlib.suppress(TransportError):
            await pool.generate(ask())
    (only,) = pool.snapshot()
    assert (only.healthy, only.ok, only.failed) == (True, 2, 3)


async def test_when_every_endpoint_is_unhealthy_they_are_still_tried() -> None:
    clock = Clock()
    first, second = dead("a"), dead("b")
    pool = EndpointPool([first, second], failure_threshold=1, probe_after=60.0, clock=clock)
    for _ in range(2):
        with pytest.raises(TransportError, match="tried endpoint-0, endpoint-1"):
            await pool.generate(ask())
    assert (first.calls, second.calls) == (2, 2)
    assert [s.healthy for s in pool.snapshot()] == [False, False]


# --- lifecycle and reporting ------------------------------------------------------------


async def test_aclose_closes_every_adapter_even_if_one_raises() -> None:
    first, failing, shared = Closing(), Closing(TransportError("close failed")), Closing()
    pool = EndpointPool(
        [first, failing, Endpoint(shared, models=["x"]), Endpoint(shared, models=["y"])]
    )
    with pytest.raises(TransportError, match="close failed"):
        await pool.aclose()
    assert first.closed and failing.closed and shared.closed


async def test_async_with_closes_the_pool() -> None:
    adapter = Closing()
    async with EndpointPool([adapter]) as pool:
        await pool.generate(ask())
    assert adapter.closed


def test_model_is_the_default_model_the_endpoints_share() -> None:
    def serving(model: str | None) -> MockAdapter:
        return MockAdapter(lambda request: "x", model=model)

    assert EndpointPool([serving("m"), Endpoint(serving("m"), models=["m"])]).model == "m"
    assert EndpointPool([RateLimiter(serving("m")), serving("m")]).model == "m"
    assert EndpointPool([serving("m"), serving("n")]).model is None  # a request may go to either
    assert EndpointPool([serving(None)]).model is None


def test_names_default_to_base_url_and_repr_shows_no_key() -> None:
    key = "sk-SECRET-123"
    http = OpenAIAdapter("http://127.0.0.1:9/v1", api_key=key, model="m")
    pool = EndpointPool([http, answering("x"), Endpoint(answering("y"), name="named")])
    assert pool.names == ["http://127.0.0.1:9/v1", "endpoint-1", "named"]
    assert repr(pool) == "EndpointPool(endpoints=['http://127.0.0.1:9/v1', 'endpoint-1', 'named'])"
    assert key not in repr(pool)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: EndpointPool([]), "at least one endpoint"),
        (lambda: EndpointPool([answering("x")], failure_threshold=0), "failure_threshold"),
        (lambda: EndpointPool([answering("x")], probe_after=-1.0), "probe_after"),
        (lambda: Endpoint(answering("x"), models="gpt"), "models"),
        (lambda: Endpoint(answering("x"), models=[]), "models"),
        (lambda: Endpoint(answering("x"), max_in_flight=0), "max_in_flight"),
        (lambda: Endpoint(object()), "no generate"),  # type: ignore[arg-type]
        (
            lambda: EndpointPool(
                [Endpoint(answering("x"), name="n"), Endpoint(answering("y"), name="n")]
            ),
            "two endpoints named 'n'",
        ),
    ],
)
def test_bad_settings_are_configuration_errors(build: Callable[[], Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        build()


# --- real servers -----------------------------------------------------------------------


async def test_requests_survive_a_server_stopped_mid_run() -> None:
    hung = asyncio.Event()  # never set: requests that reach server A hang until it stops
    arrived = asyncio.Event()

    async def hang(body: dict[str, Any]) -> str:
        arrived.set()
        await hung.wait()
        return "never"

    async with MockServer(hang) as server_a, MockServer(lambda body: "from b") as server_b:
        adapters = [
            OpenAIAdapter(s.base_url, model="mock-model", timeout=30.0)
            for s in (server_a, server_b)
        ]
        async with EndpointPool(adapters, failure_threshold=2) as pool:
            first = spawn(pool, *(ask(str(i)) for i in range(20)))
            await arrived.wait()
            await server_a.stop()
            second = spawn(pool, *(ask(str(i)) for i in range(20)))
            results = await asyncio.gather(*first, *second)
            dropped, answered = pool.snapshot()
    assert [g.text for g in results] == ["from b"] * 40
    assert dropped.failed >= 1 and dropped.ok == 0 and not dropped.healthy
    assert (answered.ok, answered.failed) == (40, 0)
    assert sum(getattr(g, "attempts", 1) for g in results) == 40 + dropped.failed
    assert {g.endpoint for g in results} == {server_b.base_url}
    assert server_b.completions_total == 40


async def test_a_spent_quota_pauses_that_endpoint_for_the_whole_pool() -> None:
    limited_calls: list[str] = []

    def limited(request: GenerationRequest) -> str:
        limited_calls.append("a")
        raise RateLimited("slow down", endpoint="a", retry_after=30.0)

    pool = EndpointPool([Endpoint(MockAdapter(limited), name="a"), answering("b")])
    assert (await pool.generate(ask())).text == "b"  # a answered 429, failover to b
    assert [s.paused for s in pool.snapshot()] == [False, False]  # one 429 pauses nothing
    assert [(await pool.generate(ask())).text for _ in range(2)] == ["b"] * 2
    assert len(limited_calls) == 3  # three 429s in a row: a's quota counts as spent
    assert [s.paused for s in pool.snapshot()] == [True, False]
    assert [(await pool.generate(ask())).text for _ in range(3)] == ["b"] * 3
