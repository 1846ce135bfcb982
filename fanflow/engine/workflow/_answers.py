"""Whether a model's answer is one a task can use: not empty, not filtered, not cut off.

An answer arrives as a `Generation` with a finish reason. Most end with "stop" (or
"tool_calls" when tools were offered) and hold text: those pass at the cost of one set
lookup. The rest are checked here:

- "content_filter": the provider withheld the answer; the task fails.
- no text and no tool calls (`content: null` or "") when no tools were offered: the task
  fails.
- only tool calls although the task offered no tools: the task fails.
- "length" (cut off at max_tokens): an answer with text is kept, its finish reason
  recorded, and whatever must parse it (structured output, a condition, a scatter) fails
  saying it was cut off; one with no text at all fails the task.
"""

from __future__ import annotations

from fanflow._exceptions import ExecutionError, ParseError
from fanflow.adapters import Generation, GenerationRequest

__all__ = ["LENGTH", "USUAL_FINISH", "check_answer", "cut_off_error", "cut_off_note"]

LENGTH = "length"
"""The OpenAI finish reason of an answer cut off at max_tokens."""

USUAL_FINISH = frozenset({None, "stop", "tool_calls", "function_call", "end_turn", "eos"})
"""Finish reasons of a whole answer (None: the adapter does not say)."""


def check_answer(generation: Generation, request: GenerationRequest) -> bool:
    """Raise `ExecutionError` for an answer no task can use; True if it was cut off.

    Called only for the unusual answers (an unusual finish reason, or no text).
    """
    reason = generation.finish_reason
    if reason == "content_filter":
        raise ExecutionError(
            "the provider's content filter withheld the answer (finish_reason "
            "'content_filter'); rephrase the prompt or use another model"
        )
    if generation.text:
        return reason == LENGTH
    if request.tools:
        # Function calling: the calls are the answer, and no call at all is an answer too
        # (`function_calling_raw` gives "[]").
        return reason == LENGTH
    if generation.tool_calls:
        names = ", ".join(call.name for call in generation.tool_calls)
        raise ExecutionError(
            f"the model answered only with tool calls ({names}) but the task offered no "
            "tools, so there is no text to keep; use a function_calling step or tell the "
            "model not to call tools"
        )
    if reason == LENGTH:
        raise ExecutionError(
            f"the answer was cut off {cut_off_note(request.max_tokens)} before any text "
            "(finish_reason 'length'); raise max_tokens"
        )
    raise ExecutionError(
        f"the model's answer has no content (content null or empty, finish_reason "
        f"{reason!r}); check the model and the prompt"
    )


def cut_off_note(max_tokens: int | None) -> str:
    """'at max_tokens=N', or the server's own limit when the request set none."""
    return "at the server's token limit" if max_tokens is None else f"at max_tokens={max_tokens}"


def cut_off_error(what: str, max_tokens: int | None, raw: str) -> ParseError:
    """The error for `what` (something that must parse an answer) given a cut-off answer."""
    return ParseError(
        f"{what}: the answer was cut off {cut_off_note(max_tokens)} (finish_reason "
        "'length'), so it is incomplete; raise max_tokens (WorkflowBuilder.set_max_tokens, "
        "StepTemplate.set_workflow_params(max_tokens=...)) or ask for a shorter answer",
        raw=raw,
    )
