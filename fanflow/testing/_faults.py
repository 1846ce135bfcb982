"""Fault injection for the mock server: what can go wrong, how often, and what was done.

`Faults` is the configuration (a frozen value, safe to share and to send to a child
process as JSON); `FaultPicker` is its running state inside one server (the seeded RNG
and the script cursor); `Arrival` records one chat request for the test to inspect.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

import orjson

from fanflow.testing._responses import DROP, HANG, NOW, Arrival, Delivery, Reply, error_reply

__all__ = ["FAULT_NAMES", "Arrival", "FaultPicker", "Faults", "early_resends", "early_retries"]

FAULT_NAMES = (
    "server_error",
    "rate_limit",
    "drop",
    "hang",
    "malformed",
    "slow_body",
    "unauthorized",
)
"""Every fault, in the order their probabilities are stacked on the unit interval."""

_MALFORMED_BODY = (
    b'{"id": "chatcmpl-mock-malformed", "object": "chat.completion", "created": 0, '
    b'"choices": [{"index": 0, "message": {"role": "assistant", "content": "cut off he'
)
_SERVER_ERRORS = {
    500: "The server had an error while processing your request. Sorry about that!",
    502: "Bad gateway.",
    503: "The engine is currently overloaded, please try again later.",
}


@dataclass(frozen=True)
class Faults:
    """Which faults the mock server injects into ``POST /v1/chat/completions`` answers.

    Each probability is in [0, 1]; they are exclusive (one uniform draw per request picks
    at most one fault), so their sum must be at most 1. Everything is deterministic given
    `seed` (default 0, so give each server of a pool its own; ``None``: OS randomness).
    `script` names the faults of the first N chat requests in arrival order (``None``: a
    normal answer); after it the probabilities apply (all 0 by default: normal answers).

    - ``server_error``: 500, 502 or 503 (drawn from `server_error_statuses`), OpenAI body.
    - ``rate_limit``: 429 with ``Retry-After: rate_limit_retry_after`` (seconds, or an
      HTTP-date rounded up to the whole second with `retry_after_http_date`). With
      `rate_limit_for` seconds, every chat request gets this 429 during the first
      `rate_limit_for` seconds after the faults are set (a quota that is spent for a
      while), before the script and probabilities apply.
    - `server_error_retry_after` (seconds, None for none) adds that ``Retry-After`` to
      the 5xx answers.
    - ``unauthorized``: 401 with an ``invalid_api_key`` OpenAI body whose message is
      `unauthorized_message` (a test can make it echo a key, as OpenAI's does).
    - ``drop``: the request is read, then the connection is closed without an answer.
    - ``hang``: no answer ever; the connection stays open until the client or `stop()`
      closes it.
    - ``malformed``: 200 whose body is truncated JSON.
    - ``slow_body``: the real answer, but half its body waits `slow_body_delay` seconds.

    429 and 401 are immediate (a gateway rejects before the model runs); the other
    answers wait for the server's `latency` like normal ones. A faulted request never
    reaches the handler, except with ``slow_body``.
    """

    server_error: float = 0.0
    rate_limit: float = 0.0
    drop: float = 0.0
    hang: float = 0.0
    malformed: float = 0.0
    slow_body: float = 0.0
    unauthorized: float = 0.0
    script: Sequence[str | None] = ()
    seed: int | None = 0
    server_error_statuses: Sequence[int] = (500, 502, 503)
    rate_limit_retry_after: float = 1.0
    retry_after_http_date: bool = False
    slow_body_delay: float = 0.5
    unauthorized_message: str = "Incorrect API key provided (mock server fault)."
    rate_limit_for: float = 0.0
    server_error_retry_after: float | None = None

    def __post_init__(self) -> None:
        for name in FAULT_NAMES:
            _check_number(f"Faults.{name}", getattr(self, name), upper=1.0)
        total = sum(getattr(self, name) for name in FAULT_NAMES)
        if total > 1.0 + 1e-9:
            raise ValueError(
                f"Faults probabilities are exclusive and must sum to <= 1, got {total}"
            )
        if isinstance(self.script, str):
            raise TypeError("Faults.script must be a list of fault names, not one string")
        script = tuple(self.script)
        for entry in script:
            if entry is not None and entry not in FAULT_NAMES:
                raise ValueError(
                    f"Faults.script entry {entry!r} is not a fault; use None or one of"
                    f" {', '.join(FAULT_NAMES)}"
                )
        statuses = tuple(self.server_error_statuses)
        if not statuses or not all(
            isinstance(s, int) and not isinstance(s, bool) and 500 <= s <= 599 for s in statuses
        ):
            raise ValueError(f"Faults.server_error_statuses must be 5xx codes, got {statuses!r}")
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int)
        ):
            raise TypeError(f"Faults.seed must be an int or None, got {self.seed!r}")
        _check_number("Faults.rate_limit_retry_after", self.rate_limit_retry_after)
        _check_number("Faults.slow_body_delay", self.slow_body_delay)
        _check_number("Faults.rate_limit_for", self.rate_limit_for)
        if self.server_error_retry_after is not None:
            _check_number("Faults.server_error_retry_after", self.server_error_retry_after)
        object.__setattr__(self, "script", script)
        object.__setattr__(self, "server_error_statuses", statuses)

    @property
    def active(self) -> bool:
        """Whether any request can be faulted (a script, or a probability above 0)."""
        return (
            bool(self.script)
            or self.rate_limit_for > 0
            or any(getattr(self, name) > 0 for name in FAULT_NAMES)
        )

    def to_json(self) -> str:
        """This configuration as a JSON object, e.g. for ``python -m fanflow.testing --faults``."""
        return orjson.dumps(dataclasses.asdict(self)).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> Faults:
        """Parse `to_json`'s output (or any subset of the fields); ValueError if invalid."""
        try:
            fields: Any = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"faults must be a JSON object: {exc}") from None
        if not isinstance(fields, dict):
            raise ValueError(f"faults must be a JSON object, got {type(fields).__name__}")
        unknown = set(fields) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown Faults field(s): {', '.join(sorted(unknown))}")
        try:
            return cls(**fields)
        except TypeError as exc:
            raise ValueError(str(exc)) from None


class FaultPicker:
    """One server's running fault state: the seeded RNG, the script cursor, ready replies."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._rng = random.Random(faults.seed)
        self._script = tuple(faults.script)
        self._cursor = 0
        self._bounds: list[tuple[float, str]] = []
        bound = 0.0
        for name in FAULT_NAMES:
            probability = float(getattr(faults, name))
            if probability > 0:
                bound += probability
                self._bounds.append((bound, name))
        self._statuses = tuple(faults.server_error_statuses)
        retry_after = faults.server_error_retry_after
        self._server_errors = {s: _server_error_reply(s, retry_after) for s in self._statuses}
        self._limited_until = time.monotonic() + faults.rate_limit_for
        self._rate_limited = _rate_limit_reply(faults.rate_limit_retry_after, None)
        self._unauthorized = error_reply(
            401,
            faults.unauthorized_message,
            "invalid_api_key",
            delivery=NOW,
        )
        self._malformed = Reply(200, _MALFORMED_BODY)
        self.slow = Delivery("slow_body", faults.slow_body_delay)

    def pick(self) -> str | None:
        """The fault for the next chat request, or None for a normal answer."""
        if self._limited_until > time.monotonic():
            return "rate_limit"
        if self._cursor < len(self._script):
            self._cursor += 1
            return self._script[self._cursor - 1]
        if not self._bounds:
            return None
        draw = self._rng.random()
        for bound, name in self._bounds:
            if draw < bound:
                return name
        return None

    def reply(self, fault: str, arrival: Arrival) -> Reply:
        """The answer for `fault` (any but ``slow_body``, which wraps the real answer)."""
        if fault == "server_error":
            statuses = self._statuses
            status = statuses[0] if len(statuses) == 1 else self._rng.choice(statuses)
            arrival.retry_after = self.faults.server_error_retry_after
            return self._server_errors[status]
        if fault == "rate_limit":
            seconds = self.faults.rate_limit_retry_after
            if not self.faults.retry_after_http_date:
                arrival.retry_after = seconds
                return self._rate_limited
            now = time.time()
            until = math.ceil(now + seconds)  # HTTP-dates have whole seconds: never early
            arrival.retry_after = until - now
            return _rate_limit_reply(seconds, formatdate(until, usegmt=True))
        if fault == "unauthorized":
            return self._unauthorized
        if fault == "malformed":
            return self._malformed
        if fault == "drop":
            return Reply(0, b"", delivery=DROP)
        if fault == "hang":
            return Reply(0, b"", delivery=HANG)
        raise ValueError(f"no fixed reply for fault {fault!r}")


def early_retries(
    arrivals: Sequence[Arrival], tolerance: float = 0.0, *, grace: float = 0.0
) -> list[Arrival]:
    """Arrivals inside a pause: after an answer (a 429, or a 5xx with Retry-After) at `t`
    asking `r` seconds, in ``(t + grace, t + r - tolerance)``. `arrivals` must be in time
    order (as recorded)."""
    early: list[Arrival] = []
    reach = -math.inf  # the furthest pause end among 429s already in force
    pauses = [
        (a.time + grace, a.time + a.retry_after - tolerance)
        for a in arrivals
        if a.status is not None and a.retry_after is not None
    ]
    pauses.sort()
    index = 0
    for arrival in arrivals:
        while index < len(pauses) and pauses[index][0] < arrival.time:
            reach = max(reach, pauses[index][1])
            index += 1
        if arrival.time < reach:
            early.append(arrival)
    return early


def early_resends(arrivals: Sequence[Arrival], tolerance: float = 0.0) -> list[Arrival]:
    """Requests sent again before the Retry-After their earlier copy was answered with.

    A request is known by its body (`Arrival.body`, kept when the server records), so
    this needs distinct bodies per logical request, as distinct prompts give.
    """
    not_before: dict[bytes, float] = {}
    early: list[Arrival] = []
    for arrival in arrivals:
        body = arrival.body
        if body is None:
            continue
        if arrival.time < not_before.get(body, -math.inf):
            early.append(arrival)
        if arrival.retry_after is not None:
            not_before[body] = arrival.time + arrival.retry_after - tolerance
    return early


def _server_error_reply(status: int, retry_after: float | None) -> Reply:
    message = _SERVER_ERRORS.get(status, f"The server answered {status} (mock server fault).")
    headers = (
        () if retry_after is None else ((b"retry-after", _format_seconds(retry_after).encode()),)
    )
    return error_reply(status, message, None, kind="server_error", headers=headers)


def _rate_limit_reply(seconds: float, http_date: str | None) -> Reply:
    value = http_date if http_date is not None else _format_seconds(seconds)
    return error_reply(
        429,
        f"Rate limit reached for requests (mock server fault). Please try again in {seconds:g}s.",
        "rate_limit_exceeded",
        kind="requests",
        headers=((b"retry-after", value.encode("latin-1")),),
        delivery=NOW,
    )


def _format_seconds(seconds: float) -> str:
    """Whole seconds as an integer (the standard form); a fraction as a decimal."""
    return str(int(seconds)) if seconds == int(seconds) else repr(float(seconds))


def _check_number(what: str, value: object, *, upper: float = math.inf) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number, got {value!r}")
    if not (math.isfinite(value) and 0 <= value <= upper):
        bounds = "in [0, 1]" if upper == 1.0 else "finite and >= 0"
        raise ValueError(f"{what} must be {bounds}, got {value!r}")
