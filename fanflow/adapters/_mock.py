"""An in-process adapter for tests, examples and dry runs: no server, no network."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

import anyio

from fanflow._exceptions import ConfigurationError
from fanflow.adapters._types import AdapterBase, Generation, GenerationRequest, Usage

__all__ = ["MockAdapter", "MockHandler"]

MockHandler = Callable[[GenerationRequest], str | Generation | Awaitable[str | Generation]]
"""A sync or async function of the request returning the answer text or a `Generation`."""


class MockAdapter(AdapterBase):
    """Answer every request by calling `handler`, after `latency` seconds of pretend work.

    A handler that returns text gets a `Generation` with a word-count token estimate, so
    code that sums usage sees plausible numbers. Exceptions raised by the handler
    propagate unchanged: raising `RateLimited` or `TransportError` from it is how tests
    exercise the engine's retry and fallback paths. `calls` counts `generate()` calls,
    including those whose handler raised.
    """

    def __init__(self, handler: MockHandler, latency: float = 0.0) -> None:
        self.handler = handler
        self.latency = latency
        self.calls = 0

    def __repr__(self) -> str:
        name = getattr(self.handler, "__qualname__", type(self.handler).__name__)
        return f"MockAdapter(handler={name}, latency={self.latency})"

    async def generate(self, request: GenerationRequest) -> Generation:
        self.calls += 1
        if self.latency > 0:
            await anyio.sleep(self.latency)
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
            model=request.model,
            latency_s=self.latency,
            endpoint="mock",
        )


def _words(text: str) -> int:
    # A cheap stand-in for a tokenizer: close enough for budgets and usage totals.
    return len(text.split())
