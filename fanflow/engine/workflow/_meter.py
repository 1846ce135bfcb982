"""What one task spends: tokens and HTTP requests, kept even when the task fails midway.

Requests count every HTTP request sent, retries and failed attempts included
(adapters report them as `Generation.attempts`, or as an `attempts` attribute on the error they
raise); a call cut off by a timeout counts the requests it had sent (1 unless the
cancellation says otherwise: `adapters._wrapper.note_cut_off`). Tokens are what endpoints
reported. The finish reason is the last answer's, unless an earlier answer of the task
ended unusually (cut off, filtered): that one is kept. `latency` sums the answers'
`Generation.latency_s` and the `latency_s` a failed call's error carries (sending to
answer, no queueing, no backoff: see `TaskTiming`).
"""

from __future__ import annotations

from dataclasses import dataclass

from fanflow.adapters import Generation, Usage
from fanflow.engine.workflow._answers import USUAL_FINISH

__all__ = ["UsageMeter"]

_NOTHING = Usage()  # shared: `Usage` is immutable


@dataclass(slots=True)
class UsageMeter:
    """What one task has spent so far; kept even when the task fails midway."""

    usage: Usage = _NOTHING
    requests: int = 0
    generations: int = 0
    model: str | None = None
    finish_reason: str | None = None
    latency: float = 0.0

    def add(self, generation: Generation) -> None:
        self.generations += 1
        self.requests += generation.attempts
        self.latency += generation.latency_s
        # Most tasks make one call: its usage is the total, no new `Usage` needed.
        usage = self.usage
        self.usage = generation.usage if usage is _NOTHING else usage + generation.usage
        self.model = generation.model or self.model
        reason = generation.finish_reason
        if reason is not None and self.finish_reason in USUAL_FINISH:
            self.finish_reason = reason

    def add_failure(self, error: BaseException) -> None:
        attempts = getattr(error, "attempts", 1)
        self.requests += attempts if isinstance(attempts, int) else 1
        latency = getattr(error, "latency_s", 0.0)
        if isinstance(latency, float):
            self.latency += latency
