"""The `Faults` value, the seeded picker, `early_retries`, and faults in a child process."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

from fanflow.testing import Arrival, Faults, MockServer, MockServerProcess
from fanflow.testing.__main__ import main
from fanflow.testing._faults import FAULT_NAMES, FaultPicker, early_retries
from tests.testing._wire import CHAT, STEP, post_chat

pytestmark = pytest.mark.timeout(30)


# -- the Faults value ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "error", "match"),
    [
        ({"drop": 1.5}, ValueError, "in \\[0, 1\\]"),
        ({"hang": -0.1}, ValueError, "in \\[0, 1\\]"),
        ({"malformed": float("nan")}, ValueError, "in \\[0, 1\\]"),
        ({"drop": True}, TypeError, "number"),
        ({"server_error": 0.6, "rate_limit": 0.5}, ValueError, "sum to <= 1"),
        ({"script": ["drop", "explode"]}, ValueError, "'explode' is not a fault"),
        ({"script": "drop"}, TypeError, "list of fault names"),
        ({"server_error_statuses": [429]}, ValueError, "5xx"),
        ({"server_error_statuses": []}, ValueError, "5xx"),
        ({"seed": 1.5}, TypeError, "seed"),
        ({"rate_limit_retry_after": -1}, ValueError, "rate_limit_retry_after"),
        ({"slow_body_delay": float("inf")}, ValueError, "slow_body_delay"),
        ({"rate_limit_for": -1}, ValueError, "rate_limit_for"),
        ({"server_error_retry_after": float("nan")}, ValueError, "server_error_retry_after"),
    ],
)
def test_faults_are_validated(fields: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        Faults(**fields)


def test_faults_are_a_frozen_hashable_value() -> None:
    faults = Faults(script=["drop", None], server_error_statuses=[500])
    assert faults.script == ("drop", None) and faults.server_error_statuses == (500,)
    assert faults == Faults(script=("drop", None), server_error_statuses=(500,))
    assert hash(faults) == hash(Faults(script=["drop", None], server_error_statuses=[500]))
    with pytest.raises(AttributeError):
        faults.drop = 1.0  # type: ignore[misc]
    assert faults.active and Faults(hang=0.1).active
    assert not Faults().active


def test_faults_round_trip_through_json() -> None:
    faults = Faults(
        server_error=0.1,
        rate_limit=0.2,
        script=["rate_limit", None],
        seed=None,
        retry_after_http_date=True,
        rate_limit_retry_after=3,
        rate_limit_for=1.5,
        server_error_retry_after=2,
    )
    assert Faults.from_json(faults.to_json()) == faults
    assert Faults.from_json('{"drop": 0.5}') == Faults(drop=0.5)


@pytest.mark.parametrize(
    ("text", "match"),
    [("[1]", "JSON object"), ("{oops", "JSON object"), ('{"explode": 1}', "unknown Faults")],
)
def test_faults_from_bad_json_is_a_value_error(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Faults.from_json(text)


def test_picker_draws_each_fault_with_its_probability() -> None:
    probabilities: dict[str, Any] = dict(
        zip(FAULT_NAMES, (0.05, 0.1, 0.05, 0.05, 0.1, 0.1, 0.05), strict=True)
    )
    picker = FaultPicker(Faults(**probabilities, seed=3))
    picks = Counter(picker.pick() for _ in range(20_000))
    for name, probability in probabilities.items():
        assert abs(picks[name] / 20_000 - probability) < 0.015, (name, picks)
    assert abs(picks[None] / 20_000 - 0.5) < 0.015


def test_script_comes_before_the_probabilities() -> None:
    picker = FaultPicker(Faults(script=[None, "hang"], drop=1.0))
    assert [picker.pick() for _ in range(4)] == [None, "hang", "drop", "drop"]


# -- early_retries ---------------------------------------------------------------------


def test_early_retries_windows() -> None:
    limited = Arrival(10.0, "rate_limit", 429, retry_after=2.0)
    unsent = Arrival(10.5, "rate_limit", None, retry_after=60.0)  # client gone: no pause
    inside, edge, after = Arrival(10.1), Arrival(11.95), Arrival(12.0)
    second = Arrival(12.5, "rate_limit", 429, retry_after=1.0)
    late_inside = Arrival(13.3)
    arrivals = [limited, inside, unsent, edge, after, second, late_inside]
    assert early_retries(arrivals) == [inside, unsent, edge, late_inside]
    assert early_retries(arrivals, tolerance=0.1) == [inside, unsent, late_inside]
    assert early_retries(arrivals, grace=0.2) == [unsent, edge, late_inside]
    assert early_retries([Arrival(1.0), Arrival(2.0, "rate_limit", 429, 0.0)]) == []


async def test_early_retries_flags_a_client_that_does_not_wait() -> None:
    faults = Faults(script=["rate_limit"], rate_limit_retry_after=0.3)
    async with MockServer(faults=faults) as server, httpx.AsyncClient(timeout=STEP) as client:
        assert (await post_chat(client, server)).status_code == 429
        assert (await post_chat(client, server)).status_code == 200  # straight away: too early
        assert server.early_retries() == [server.arrivals[1]]
        assert server.early_retries(tolerance=0.3) == []
        assert server.early_retries(grace=STEP) == []


@pytest.mark.parametrize("http_date", [False, True], ids=["seconds", "http-date"])
async def test_early_retries_is_empty_when_the_client_waits(http_date: bool) -> None:
    faults = Faults(
        script=["rate_limit", "rate_limit"],
        rate_limit_retry_after=0.2 if not http_date else 0,
        retry_after_http_date=http_date,
    )
    async with MockServer(faults=faults) as server, httpx.AsyncClient(timeout=STEP) as client:
        statuses = []
        for _ in range(3):
            response = await post_chat(client, server)
            statuses.append(response.status_code)
            if response.status_code == 429:
                await asyncio.sleep(_seconds_to_wait(response.headers["retry-after"]))
        assert server.early_retries() == []
    assert statuses == [429, 429, 200]


async def test_early_resends_match_a_request_to_its_own_earlier_copy() -> None:
    faults = Faults(
        script=["server_error", "rate_limit"],
        server_error_statuses=[503],
        server_error_retry_after=0.3,
        rate_limit_retry_after=0.3,
    )
    async with (
        MockServer(faults=faults, record=True) as server,
        httpx.AsyncClient(timeout=STEP) as client,
    ):
        url = f"{server.base_url}/chat/completions"

        async def send(text: str) -> httpx.Response:
            return await client.post(url, json=_chat(text))

        first = await send("a")
        assert (first.status_code, first.headers["retry-after"]) == (503, "0.3")
        assert (await send("b")).status_code == 429
        assert (await send("c")).status_code == 200  # another request: not a resend
        assert server.early_resends() == []
        assert (await send("b")).status_code == 200  # b again, before its Retry-After
        assert server.early_resends() == [server.arrivals[3]]
        assert server.early_resends(tolerance=STEP) == []


def _chat(text: str) -> dict[str, Any]:
    return {"model": "mock-model", "messages": [{"role": "user", "content": text}]}


def test_rate_limit_for_answers_429_for_a_while_then_lets_through() -> None:
    picker = FaultPicker(Faults(rate_limit_for=60.0))
    assert [picker.pick() for _ in range(3)] == ["rate_limit"] * 3
    assert FaultPicker(Faults(rate_limit_for=0.0, rate_limit=0.0)).pick() is None


def _seconds_to_wait(retry_after: str) -> float:
    """How a client reads Retry-After: seconds, else an HTTP-date."""
    try:
        return float(retry_after)
    except ValueError:
        return max(0.0, parsedate_to_datetime(retry_after).timestamp() - time.time())


# -- child process ---------------------------------------------------------------------


def test_server_process_passes_faults_to_the_child() -> None:
    faults = Faults(script=["server_error"], server_error_statuses=[500])
    with MockServerProcess(faults=faults) as server:
        assert "--faults" in server.command()
        url = f"{server.base_url}/chat/completions"
        statuses = [httpx.post(url, json=CHAT, timeout=STEP).status_code for _ in range(2)]
    assert statuses == [500, 200]
    assert server.returncode == 0


def test_cli_rejects_bad_faults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--faults", '{"drop": 2}'])
    assert exited.value.code == 2
    assert "Faults.drop" in capsys.readouterr().err


def test_server_process_rejects_a_non_faults_value() -> None:
    with pytest.raises(TypeError, match="Faults"):
        MockServerProcess(faults={"drop": 1.0})  # type: ignore[arg-type]
