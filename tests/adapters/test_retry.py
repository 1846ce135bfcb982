"""RetryingAdapter: what is retried, how long it waits, what it raises, and cancellation."""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable

import anyio
import pytest

from fanflow import (
    AdapterError,
    ChatMessage,
    ConfigurationError,
    FanflowError,
    Generation,
    GenerationRequest,
    MockAdapter,
    ParseError,
    ProviderError,
    RateLimited,
    TransportError,
)
from fanflow.adapters import MockScript, RetryingAdapter, RetryPolicy

from . import JumpClock

REQUEST = GenerationRequest(messages=(ChatMessage("user", "Name a colour."),), model="tiny")
NO_JITTER = RetryPolicy(jitter=0.0)


def stamped(script: MockScript, clock: Callable[[], float]) -> tuple[MockAdapter, list[float]]:
    """A MockAdapter answering from `script`, and the `clock()` time of each request."""
    called_at: list[float] = []
    answers = MockAdapter(script)

    async def answer(request: GenerationRequest) -> Generation:
        called_at.append(clock())
        return await answers.generate(request)

    return MockAdapter(answer), called_at


def attempts(error: BaseException) -> object:
    """The `attempts` attribute a retried error carries (None if it has none)."""
    return getattr(error, "attempts", None)


def server_error(status: int | None = 503) -> ProviderError:
    return ProviderError(
        f"POST http://e/v1/chat/completions answered {status}: overloaded.",
        endpoint="http://e/v1",
        status_code=status,
        body='{"error": "overloaded"}',
    )


def retrying(
    adapter: MockAdapter, policy: RetryPolicy = NO_JITTER, clock: JumpClock | None = None
) -> RetryingAdapter:
    return RetryingAdapter(adapter, policy, sleep=(clock or JumpClock()).sleep)


# --- what is retried --------------------------------------------------------------------


async def test_server_error_then_ok_takes_two_attempts() -> None:
    inner = MockAdapter([server_error(500), "ok"])
    adapter = retrying(inner)

    generation = await adapter.generate(REQUEST)

    assert generation.text == "ok"
    assert generation.attempts == 2
    assert inner.calls == 2
    assert adapter.retries == 1


async def test_first_try_success_is_returned_as_it_is() -> None:
    answer = Generation(text="ok")
    adapter = retrying(MockAdapter(lambda _: answer))
    assert await adapter.generate(REQUEST) is answer
    assert answer.attempts == 1
    assert adapter.retries == 0


async def test_requests_an_inner_adapter_reports_are_counted_too() -> None:
    # An adapter under this one (a pool failing over, say) may send several requests per
    # attempt and say so; the total is what a run's accounting needs.
    answers: list[Exception | Generation] = [
        TransportError("reset", attempts=3),
        Generation(text="ok", attempts=2),
    ]

    def handler(request: GenerationRequest) -> Generation:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    generation = await retrying(MockAdapter(handler)).generate(REQUEST)

    assert generation.attempts == 5


async def test_unauthorized_is_raised_at_once_with_the_providers_message() -> None:
    error = ProviderError("answered 401: Incorrect API key provided.", status_code=401)
    inner = MockAdapter([error, "ok"])

    with pytest.raises(ProviderError) as caught:
        await retrying(inner).generate(REQUEST)

    assert inner.calls == 1
    assert str(caught.value) == str(error)
    assert caught.value.status_code == 401
    assert attempts(caught.value) == 1


@pytest.mark.parametrize(
    "error",
    [
        TransportError("connection reset", endpoint="http://e"),
        RateLimited("slow down"),
        server_error(None),
        server_error(200),  # a 2xx whose body was not a usable answer
        server_error(408),
        server_error(409),
        server_error(429),
        server_error(502),
    ],
    ids=["transport", "429", "no-status", "malformed-2xx", "408", "409", "429-provider", "502"],
)
async def test_retryable_errors_are_retried(error: AdapterError) -> None:
    assert error.retryable
    inner = MockAdapter([error, "ok"])
    assert (await retrying(inner).generate(REQUEST)).attempts == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_other_client_errors_are_not_retryable(status: int) -> None:
    inner = MockAdapter([server_error(status), "ok"])
    assert not server_error(status).retryable
    with pytest.raises(ProviderError):
        await retrying(inner).generate(REQUEST)
    assert inner.calls == 1


async def test_errors_that_are_not_adapter_errors_propagate_unchanged() -> None:
    error = ParseError("not json", raw="{oops")
    inner = MockAdapter([error, "ok"])

    with pytest.raises(ParseError) as caught:
        await retrying(inner).generate(REQUEST)

    assert caught.value is error
    assert inner.calls == 1


# --- giving up --------------------------------------------------------------------------


async def test_attempt_cap_raises_the_last_error_with_attempts() -> None:
    inner = MockAdapter([server_error(502), server_error(503), server_error(504), "ok"])
    policy = RetryPolicy(attempts=3, jitter=0.0)

    with pytest.raises(ProviderError) as caught:
        await retrying(inner, policy).generate(REQUEST)

    error = caught.value
    assert inner.calls == 3
    assert attempts(error) == 3
    assert error.status_code == 504
    assert error.body == '{"error": "overloaded"}'
    assert error.endpoint == "http://e/v1"
    assert str(error).startswith("Gave up after 3 attempts (attempt limit reached): POST ")


async def test_final_error_keeps_attempts_through_pickle_and_context() -> None:
    cause = OSError("reset by peer")
    error = TransportError("POST http://e failed", endpoint="http://e")
    error.__cause__ = cause
    inner = MockAdapter([error, error])

    with pytest.raises(TransportError) as caught:
        await retrying(inner, RetryPolicy(attempts=2, jitter=0.0)).generate(REQUEST)

    final = caught.value
    assert final.__cause__ is cause
    assert attempts(pickle.loads(pickle.dumps(final))) == 2
    led: FanflowError = final.with_context("task 'a': ")
    assert attempts(led) == 2
    assert isinstance(led, TransportError)


async def test_a_non_retryable_error_after_retries_says_so() -> None:
    inner = MockAdapter([server_error(503), server_error(400)])

    with pytest.raises(ProviderError) as caught:
        await retrying(inner).generate(REQUEST)

    assert attempts(caught.value) == 2
    assert str(caught.value).startswith("Gave up after 2 attempts (not retryable): ")


async def test_retry_budget_is_shared_across_requests() -> None:
    inner = MockAdapter([server_error() for _ in range(4)])
    adapter = retrying(inner, RetryPolicy(attempts=5, retry_budget=2, jitter=0.0))

    with pytest.raises(ProviderError) as first:
        await adapter.generate(REQUEST)
    with pytest.raises(ProviderError) as second:
        await adapter.generate(REQUEST)

    assert inner.calls == 3 + 1
    assert attempts(first.value) == 3
    assert "retry_budget=2 is spent" in str(first.value)
    assert attempts(second.value) == 1
    assert adapter.retries == 2
    assert adapter.budget_left == 0


async def test_budget_is_none_without_a_budget() -> None:
    assert retrying(MockAdapter(["ok"])).budget_left is None


async def test_retry_after_above_max_retry_after_fails_at_once() -> None:
    clock = JumpClock()
    inner = MockAdapter([RateLimited("slow down", retry_after=3600.0), "ok"])

    with pytest.raises(RateLimited) as caught:
        await retrying(inner, RetryPolicy(max_retry_after=300.0), clock).generate(REQUEST)

    assert inner.calls == 1
    assert clock.sleeps == []
    assert caught.value.retry_after == 3600.0
    assert attempts(caught.value) == 1
    assert "max_retry_after=300 s" in str(caught.value)


# --- waiting ----------------------------------------------------------------------------


async def test_next_attempt_is_not_sent_before_retry_after() -> None:
    clock = JumpClock()
    inner, called_at = stamped([RateLimited("slow down", retry_after=7.0), "ok"], clock)

    await retrying(inner, RetryPolicy(initial_backoff=0.5), clock).generate(REQUEST)

    first, second = called_at
    assert second - first >= 7.0
    assert clock.sleeps == [7.0]


async def test_retry_after_on_a_503_is_waited_out() -> None:
    clock = JumpClock()
    busy = ProviderError("answered 503", status_code=503, retry_after=3.0)
    inner, called_at = stamped([busy, "ok"], clock)

    await retrying(inner, RetryPolicy(initial_backoff=0.5), clock).generate(REQUEST)

    first, second = called_at
    assert second - first >= 3.0


async def test_retry_after_on_a_503_above_max_retry_after_fails_at_once() -> None:
    busy = ProviderError("answered 503", status_code=503, retry_after=600.0)
    inner = MockAdapter([busy, "ok"])

    with pytest.raises(ProviderError, match="max_retry_after"):
        await retrying(inner, RetryPolicy(max_retry_after=60.0)).generate(REQUEST)
    assert inner.calls == 1


async def test_a_retry_after_is_waited_as_given_instead_of_the_backoff() -> None:
    clock = JumpClock()
    inner = MockAdapter([RateLimited("slow down", retry_after=1.0), "ok"])

    await retrying(inner, RetryPolicy(initial_backoff=10.0, jitter=0.5), clock).generate(REQUEST)

    assert clock.sleeps == [1.0]  # as the official SDK: the server said when to come back


async def test_backoff_doubles_up_to_the_cap() -> None:
    clock = JumpClock()
    inner = MockAdapter([*(server_error() for _ in range(5)), "ok"])
    policy = RetryPolicy(attempts=6, initial_backoff=1.0, max_backoff=8.0, jitter=0.0)

    await retrying(inner, policy, clock).generate(REQUEST)

    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0, 8.0]


async def test_jitter_adds_a_bounded_random_extra() -> None:
    clock = JumpClock()
    inner = MockAdapter([*(server_error() for _ in range(50)), "ok"])
    policy = RetryPolicy(attempts=51, initial_backoff=1.0, max_backoff=4.0, jitter=0.5)

    await retrying(inner, policy, clock).generate(REQUEST)

    bases = [min(2.0**n, 4.0) for n in range(50)]
    assert all(base <= slept <= base + 0.5 for base, slept in zip(bases, clock.sleeps, strict=True))
    assert len(set(clock.sleeps)) > 3  # actually random, not a constant offset


async def test_real_sleep_waits_the_backoff() -> None:
    inner, called_at = stamped([server_error(), "ok"], time.monotonic)
    adapter = RetryingAdapter(inner, RetryPolicy(initial_backoff=0.02, jitter=0.0))

    with anyio.fail_after(5):
        await adapter.generate(REQUEST)

    first, second = called_at
    assert second - first >= 0.019  # clocks may round a hair early


async def test_concurrent_requests_count_their_own_attempts() -> None:
    failures = {str(i): i % 3 for i in range(30)}

    def handler(request: GenerationRequest) -> str:
        key = request.messages[0].content
        if failures[key]:
            failures[key] -= 1
            raise server_error()
        return key

    adapter = retrying(MockAdapter(handler))
    results: dict[str, Generation] = {}

    async def ask(key: str) -> None:
        request = GenerationRequest(messages=(ChatMessage("user", key),))
        results[key] = await adapter.generate(request)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for key in failures:
                tg.start_soon(ask, key)

    assert {k: g.attempts for k, g in results.items()} == {str(i): i % 3 + 1 for i in range(30)}
    assert adapter.retries == sum(i % 3 for i in range(30))


# --- cancellation -----------------------------------------------------------------------


async def run_and_cancel(adapter: RetryingAdapter, started: anyio.Event) -> list[BaseException]:
    """Start a request, cancel it once `started` is set; what it raised."""
    raised: list[BaseException] = []

    async def ask() -> None:
        try:
            await adapter.generate(REQUEST)
        except BaseException as exc:
            raised.append(exc)
            raise

    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(ask)
            await started.wait()
            await anyio.wait_all_tasks_blocked()
            tg.cancel_scope.cancel()
    return raised


async def test_cancellation_during_backoff_propagates_at_once() -> None:
    started = anyio.Event()

    def handler(request: GenerationRequest) -> str:
        started.set()
        raise server_error()

    inner = MockAdapter(handler)
    adapter = RetryingAdapter(inner, RetryPolicy(initial_backoff=3600.0, max_backoff=3600.0))

    raised = await run_and_cancel(adapter, started)

    assert [type(exc) for exc in raised] == [anyio.get_cancelled_exc_class()]
    assert inner.calls == 1


async def test_cancellation_of_the_request_itself_is_not_retried() -> None:
    started = anyio.Event()

    async def handler(request: GenerationRequest) -> str:
        started.set()
        await anyio.sleep_forever()
        return "never"

    inner = MockAdapter(handler)
    adapter = retrying(inner)

    raised = await run_and_cancel(adapter, started)

    assert [type(exc) for exc in raised] == [anyio.get_cancelled_exc_class()]
    assert inner.calls == 1
    assert adapter.retries == 0


# --- the rest ---------------------------------------------------------------------------


async def test_aclose_closes_the_wrapped_adapter_and_repr_shows_both() -> None:
    closed: list[bool] = []

    class Closing(MockAdapter):
        async def aclose(self) -> None:
            closed.append(True)

    inner = Closing(lambda _: "ok")
    async with RetryingAdapter(inner, RetryPolicy(attempts=2)) as adapter:
        assert repr(inner) in repr(adapter)
        assert "RetryPolicy(attempts=2" in repr(adapter)
    assert closed == [True]


BAD_POLICIES: list[Callable[[], RetryPolicy]] = [
    lambda: RetryPolicy(attempts=0),
    lambda: RetryPolicy(initial_backoff=-1.0),
    lambda: RetryPolicy(max_backoff=float("nan")),
    lambda: RetryPolicy(jitter=float("inf")),
    lambda: RetryPolicy(retry_budget=-1),
    lambda: RetryPolicy(max_retry_after=-5.0),
]


@pytest.mark.parametrize("make", BAD_POLICIES)
def test_bad_policies_are_configuration_errors(make: Callable[[], RetryPolicy]) -> None:
    with pytest.raises(ConfigurationError, match="RetryPolicy"):
        make()
