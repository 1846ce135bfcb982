"""Structured output: ask for a JSON schema, validate the answer, repair once.

A task with a `schema` sends it as the request's `json_schema`. The answer (code fences
allowed) must parse as JSON and validate against the schema (jsonschema, draft 2020-12);
for a server that ignores the schema, a JSON object or array found in prose around it (by
the lenient parser) is taken if it validates.
On failure the model is asked once more, shown its answer and the validation error; a
second failure is a `ParseError` carrying the raw text. An answer cut off at max_tokens
fails at once (a repair would be cut off the same way). The stored result is the answer
re-encoded as compact JSON, so later steps get clean JSON.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import orjson

from fanflow._exceptions import ParseError
from fanflow._json import parse_lenient, parse_strict
from fanflow.adapters import ChatMessage, Generation, GenerationRequest
from fanflow.engine.workflow._answers import LENGTH, cut_off_error

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

__all__ = ["generate_structured"]


Generate = Callable[[GenerationRequest], Awaitable[Generation]]


async def generate_structured(generate: Generate, request: GenerationRequest, task_id: str) -> str:
    """The validated JSON text, asking with `generate` once or twice.

    `generate` does the caller's accounting, so the calls of a failed attempt still count.
    """
    assert request.json_schema is not None
    first = await generate(request)
    if first.finish_reason == LENGTH:
        raise cut_off_error(f"task {task_id!r}", request.max_tokens, first.text)
    text, error = _validated(first.text, request.json_schema)
    if error is None:
        return text
    repair = replace(request, messages=(*request.messages, *_repair_messages(first.text, error)))
    second = await generate(repair)
    if second.finish_reason == LENGTH:
        raise cut_off_error(f"task {task_id!r}", request.max_tokens, second.text)
    text, error = _validated(second.text, request.json_schema)
    if error is None:
        return text
    raise ParseError(
        f"task {task_id!r}: the answer did not match the task's JSON schema, also after one "
        f"repair attempt ({error}); the answer was {_quoted(second.text)}. Simplify the "
        "schema or prompt, or use a model with structured-output support",
        raw=second.text,
    )


def _quoted(text: str, limit: int = 300) -> str:
    """The raw answer for an error message: whole when short, else its start (all of it is
    the error's `raw`)."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text)} chars)"


def _repair_messages(answer: str, error: str) -> tuple[ChatMessage, ChatMessage]:
    return (
        ChatMessage(role="assistant", content=answer),
        ChatMessage(
            role="user",
            content=f"That answer is not valid: {error}. Reply again with only a JSON value "
            "that matches the required schema, and nothing else.",
        ),
    )


def _validated(text: str, schema: dict[str, Any]) -> tuple[str, str | None]:
    """(compact JSON, None) when valid, else (text, what is wrong)."""
    validator = _validator(orjson.dumps(schema))
    try:
        value = parse_strict(text)
    except ParseError as exc:
        # A server that ignores the schema lets a model wrap its JSON in prose: take the
        # JSON object or array found in it if that fits, else ask again as usual.
        found = parse_lenient(text)
        if isinstance(found, (dict, list)) and validator.is_valid(found):
            return orjson.dumps(found).decode(), None
        return text, str(exc)
    problem = next(iter(validator.iter_errors(value)), None)
    if problem is not None:
        where = "/".join(str(p) for p in problem.absolute_path) or "the top level"
        return text, f"at {where}: {problem.message}"
    return orjson.dumps(value).decode(), None


@lru_cache(maxsize=256)
def _validator(schema_json: bytes) -> Draft202012Validator:
    from jsonschema import Draft202012Validator  # a run without a schema never needs it

    return Draft202012Validator(orjson.loads(schema_json))
