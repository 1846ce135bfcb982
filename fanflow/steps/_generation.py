"""Generation parameters of a step (`StepTemplate.set_generation`), checked when set.

`temperature` travels as `GenerationRequest.temperature`; the others (`top_p`, `seed`,
`stop`, the penalties and any extra keyword) as `GenerationRequest.extra`, which an
OpenAI-compatible adapter writes into the JSON body as it is. `max_tokens` is not here:
it is the workflow's `config.max_tokens`, the same setting as `set_workflow_params`'.

Seeds: a task whose step has `seed=s` sends `s + i`, where `i` is the task's index among
its siblings (the tasks made from one upstream result: `broadcast(3)` gives 0, 1, 2). So
n samples of one prompt differ, and a re-run sends the same seeds. Input rows are not
siblings: the first step's tasks all send `s`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from fanflow._exceptions import ConfigurationError

__all__ = ["RESERVED_BODY_KEYS", "SamplingParams", "check_generation"]

RESERVED_BODY_KEYS = frozenset(
    {"model", "messages", "max_tokens", "response_format", "tools", "stream", "stream_options", "n"}
)
"""Request body keys fanflow writes itself (or cannot read the answer of): never in `extra`."""

_MAX_STOPS = 4  # OpenAI's limit
_RANGES = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
}


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """What one task sends besides its messages: `temperature` and the body's `extra`."""

    temperature: float | None
    extra: dict[str, Any]

    @classmethod
    def of(cls, generation: Mapping[str, Any], sibling: int) -> SamplingParams:
        """A step's checked `generation` for the task with this sibling index (see above)."""
        extra = {key: value for key, value in generation.items() if key != "temperature"}
        seed = extra.get("seed")
        if seed is not None and sibling:
            extra["seed"] = seed + sibling
        return cls(generation.get("temperature"), extra)


def check_generation(step: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """`params` without the Nones, or `ConfigurationError` naming every bad one."""
    given = {key: value for key, value in params.items() if value is not None}
    if isinstance(given.get("stop"), list):  # a copy: the caller's list may change later
        given["stop"] = list(given["stop"])
    problems = [problem for key, value in given.items() if (problem := _problem(key, value))]
    if problems:
        raise ConfigurationError(
            f"step {step!r}: set_generation got invalid values ({'; '.join(problems)})"
        )
    return given


def _problem(key: str, value: Any) -> str | None:
    if key in _RANGES:
        low, high = _RANGES[key]
        if not _is_number(value) or not low <= value <= high:
            return f"{key} must be a number from {low:g} to {high:g}, got {value!r}"
        return None
    if key == "seed":
        if type(value) is not int:
            return f"seed must be a whole number, got {value!r}"
        return None
    if key == "stop":
        return _stop_problem(value)
    if key in RESERVED_BODY_KEYS:
        hint = _RESERVED_HINTS.get(key, "fanflow writes it itself")
        return f"{key} cannot be set here: {hint}"
    try:
        orjson.dumps(value)
    except TypeError as exc:
        return f"{key} must hold only JSON values ({exc})"
    return None


_RESERVED_HINTS = {
    "model": "use set_models([...])",
    "max_tokens": "use set_generation(max_tokens=...)",
    "response_format": "give the step's task a schema",
    "tools": "use set_tools([...])",
    "stream": "fanflow reads whole answers, not streams",
    "stream_options": "fanflow reads whole answers, not streams",
    "n": "fanflow reads one answer per request; use broadcast(n) for n samples",
}


def _stop_problem(value: Any) -> str | None:
    if isinstance(value, str):
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return f"stop must be a str or a list of str, got {value!r}"
    if len(value) > _MAX_STOPS:
        return f"stop takes at most {_MAX_STOPS} sequences, got {len(value)}"
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
