"""Tests of one workflow: the executor, its memory and structured output.

`FakeAdapter(*replies, respond=None)` builds the `MockAdapter` these tests talk to.
"""

from __future__ import annotations

from collections.abc import Callable

from fanflow import Generation, GenerationRequest, MockAdapter

Reply = str | Generation | Exception


class ScriptedAdapter(MockAdapter):
    """A `MockAdapter` that also lists the prompts it was sent."""

    @property
    def prompts(self) -> list[str]:
        """The last message of each request, as the model saw it."""
        return [request.messages[-1].content for request in self.requests]


def FakeAdapter(
    *replies: Reply, respond: Callable[[GenerationRequest], Reply] | None = None
) -> ScriptedAdapter:
    """Answers with `replies` in order, then with `respond(request)`; an exception given
    as a reply is raised. Without `respond`, a request past the replies is an error."""
    if respond is None:
        return ScriptedAdapter(list(replies))
    otherwise = respond

    def handler(request: GenerationRequest) -> str | Generation:
        number = len(adapter.requests)  # this request's, counting from 1
        reply = replies[number - 1] if number <= len(replies) else otherwise(request)
        if isinstance(reply, Exception):
            raise reply
        return reply

    adapter = ScriptedAdapter(handler)
    return adapter


def echo(request: GenerationRequest) -> str:
    """A model that answers with the prompt it was given."""
    return request.messages[-1].content
