"""Tests of the engine: the executor, its memory and structured output.

`FakeAdapter` is a tiny scripted adapter (the project's `MockAdapter` is tested on its own).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from fanflow.adapters import Generation, GenerationRequest

Reply = str | Generation | BaseException


class FakeAdapter:
    """Answers with `replies` in order, then with `respond(request)`; records every request."""

    def __init__(
        self, *replies: Reply, respond: Callable[[GenerationRequest], Reply] | None = None
    ) -> None:
        self.requests: list[GenerationRequest] = []
        self._replies = deque(replies)
        self._respond = respond

    async def generate(self, request: GenerationRequest) -> Generation:
        self.requests.append(request)
        if self._replies:
            reply = self._replies.popleft()
        elif self._respond is not None:
            reply = self._respond(request)
        else:
            raise AssertionError(f"unexpected request {len(self.requests)}: {request.messages}")
        if isinstance(reply, BaseException):
            raise reply
        return reply if isinstance(reply, Generation) else Generation(text=reply)

    async def aclose(self) -> None:
        return None

    @property
    def prompts(self) -> list[str]:
        """The last message of each request, as the model saw it."""
        return [request.messages[-1].content for request in self.requests]


def echo(request: GenerationRequest) -> str:
    """A model that answers with the prompt it was given."""
    return request.messages[-1].content
