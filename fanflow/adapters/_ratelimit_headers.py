"""Read OpenAI-style `x-ratelimit-*` response headers into a `RateLimitInfo`.

OpenAI, Azure OpenAI, Groq and others send the six headers below; a rate limiter uses
them to learn an endpoint's limits instead of being told. Self-hosted servers (vLLM,
SGLang, llama.cpp) send none: FastTransport's headers say so without being decoded, other
mappings with four failed lookups.

Reset times are Go-style durations ("1s", "6m0s", "20ms", "1h2m3.5s"); a bare number is
taken as seconds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from fanflow.adapters._fast_http_conn import ResponseHeaders
from fanflow.adapters._types import RateLimitInfo

__all__ = ["parse_duration", "parse_rate_limits"]

_LIMIT_REQUESTS = "x-ratelimit-limit-requests"
_REMAINING_REQUESTS = "x-ratelimit-remaining-requests"
_RESET_REQUESTS = "x-ratelimit-reset-requests"
_LIMIT_TOKENS = "x-ratelimit-limit-tokens"
_REMAINING_TOKENS = "x-ratelimit-remaining-tokens"
_RESET_TOKENS = "x-ratelimit-reset-tokens"

_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
# Two-letter units first, so "20ms" is not read as 20 minutes followed by garbage.
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|us|µs|ns|h|m|s)")


def parse_rate_limits(headers: Mapping[str, str]) -> RateLimitInfo | None:
    """The rate-limit headers of a response, or None when it has none (the usual case)."""
    if isinstance(headers, ResponseHeaders) and not headers.any_named(b"x-ratelimit-"):
        return None  # FastTransport's headers: no lookups, nothing decoded
    limit_requests = headers.get(_LIMIT_REQUESTS)
    remaining_requests = headers.get(_REMAINING_REQUESTS)
    limit_tokens = headers.get(_LIMIT_TOKENS)
    remaining_tokens = headers.get(_REMAINING_TOKENS)
    if (
        limit_requests is None
        and remaining_requests is None
        and limit_tokens is None
        and remaining_tokens is None
    ):
        return None
    return RateLimitInfo(
        limit_requests=_count(limit_requests),
        remaining_requests=_count(remaining_requests),
        reset_requests_s=parse_duration(headers.get(_RESET_REQUESTS)),
        limit_tokens=_count(limit_tokens),
        remaining_tokens=_count(remaining_tokens),
        reset_tokens_s=parse_duration(headers.get(_RESET_TOKENS)),
    )


def parse_duration(text: str | None) -> float | None:
    """Seconds in a Go-style duration or a bare number; None if absent or unreadable."""
    if text is None:
        return None
    text = text.strip()
    seconds = _number(text)
    if seconds is not None:
        return seconds
    total, end = 0.0, 0
    for match in _DURATION_PART.finditer(text):
        if match.start() != end:
            return None
        total += float(match[1]) * _UNIT_SECONDS[match[2]]
        end = match.end()
    return total if 0 < end == len(text) else None


def _count(text: str | None) -> int | None:
    """A non-negative whole count from a header ("9999", and "9999.0" from lax servers)."""
    number = _number(text.strip()) if text is not None else None
    return int(number) if number is not None else None


def _number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return max(0.0, number) if math.isfinite(number) else None
