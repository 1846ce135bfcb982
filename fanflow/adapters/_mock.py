"""An in-process adapter for tests, examples and dry runs: no server, no network."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence

import anyio

from fanflow import _otel
from fanflow._exceptions import ConfigurationError
from fanflow.adapters._types import AdapterBase, Generation, GenerationRequest, Usage

__all__ = ["MockAdapter", "MockHandler", "MockScript"]

MockHandler = Callable[[GenerationRequest], str | Generation | Awaitable[str | Generation]]
"""A sync or async function of the request returning the answer text or a `Generation`."""

MockScript = Sequence[str | Generation | Exception]
"""Answers given out in order, one per request; an exception is raised instead."""


class MockAdapter(AdapterBase):
    """Answer requests in-process, from a handler or a script, after `latency` seconds.

    The first argument is either a handler, a sync or async function of the request
    returning the answer (text or a `Generation`), or a script, a list of answers given
    out in order, one per request, where an exception is raised instead of answered; a
    request past the end of a script is a `ConfigurationError` saying how many answers
    it had. Exceptions propagate unchanged: raising `RateLimited` or `TransportError` is
    how tests exercise the engine's retry and fallback paths.

    A text answer becomes a `Generation` with a word-count token estimate (so code that
    sums usage sees plausible numbers) and the request's model, else `model`.
    `requests` lists every request received, in arrival order, those that raised
    included (all are kept: this is a test double, not for runs of millions); `calls` is
    their number.
    """

    def __init__(
        self,
        handler: MockHandler | MockScript,
        latency: float = 0.0,
        model: str | None = None,
    ) -> None:
        self.handler: MockHandler | None = handler if callable(handler) else None
        self._script = () if callable(handler) else _checked_script(handler)
        self.latency = latency
        self.model = model
        self.requests: list[GenerationRequest] = []

    def __repr__(self) -> str:
        if self.handler is None:
            source = f"script={_answers(len(self._script))}"
        else:
            source = f"handler={getattr(self.handler, '__qualname__', type(self.handler).__name__)}"
        model = "" if self.model is None else f", model={self.model!r}"
        return f"MockAdapter({source}, latency={self.latency}{model})"

    @property
    def calls(self) -> int:
        """How many requests `generate()` received, including those that raised."""
        return len(self.requests)

    async def generate(self, request: GenerationRequest) -> Generation:
        traced = _otel.tracing
        if traced is not None:  # a span around this attempt (fanflow/_otel.py)
            return await traced.attempt(self._mock_answer(request), request, "mock", self.model)
        return await self._mock_answer(request)

    async def _mock_answer(self, request: GenerationRequest) -> Generation:
        self.requests.append(request)
        if self.latency > 0:
            await anyio.sleep(self.latency)
        if self.handler is None:
            answer: object = self._next_in_script()
        else:
            answer = self.handler(request)
            if inspect.isawaitable(answer):
                answer = await answer
        if isinstance(answer, Generation):
            return answer
        if not isinstance(answer, str):
            raise ConfigurationError(
                f"{self!r}: the handler returned {type(answer).__name__}; it must return "
                "a str or a Generation (or an awaitable of one)."
            )
        return Generation(
            text=answer,
            finish_reason="stop",
            usage=Usage(
                prompt_tokens=sum(_words(m.content) for m in request.messages),
                completion_tokens=_words(answer),
            ),
            model=request.model or self.model,
            latency_s=self.latency,
            endpoint="mock",
        )

    def _next_in_script(self) -> str | Generation:
        """The script's answer to the request just recorded; raised if an exception."""
        number = len(self.requests)
        if number > len(self._script):
            raise ConfigurationError(
                f"{self!r} got request {number}, but its script has only "
                f"{_answers(len(self._script))}; add answers, or pass a handler instead."
            )
        answer = self._script[number - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer


def _checked_script(script: object) -> tuple[str | Generation | Exception, ...]:
    if isinstance(script, (str, bytes)) or not isinstance(script, Sequence):
        raise ConfigurationError(
            f"MockAdapter needs a handler (a function of the request) or a script (a list "
            f"of answers), not {type(script).__name__}; for one answer, pass [answer]."
        )
    for number, answer in enumerate(script, 1):
        if not isinstance(answer, (str, Generation, Exception)):
            raise ConfigurationError(
                f"MockAdapter script answer {number} is a {type(answer).__name__}; each "
                "must be a str, a Generation or an exception to raise."
            )
    return tuple(script)


def _answers(count: int) -> str:
    return f"{count} answer" if count == 1 else f"{count} answers"


def _words(text: str) -> int:
    # A cheap stand-in for a tokenizer: close enough for budgets and usage totals.
    return len(text.split())
