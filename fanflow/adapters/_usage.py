"""Token usage from an OpenAI-style `usage` object, estimated where the server omits it.

Budgets (`max_tokens_total`, `max_cost`) and cost need token counts. Some servers send
only `total_tokens`, and some send no `usage` at all; counting zero would let a budget
run forever. So the counts are estimated from the text at about four characters per
token (OpenAI's rule of thumb for English; code and other languages run higher), and the
`Usage` says `estimated=True`:

- `prompt_tokens` and `completion_tokens` present: used as they are;
- only `total_tokens`: the total is kept, split by estimating the completion from the
  answer (its text and tool call arguments; the rest is the prompt);
- nothing: prompt from the request's message texts, completion from the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fanflow.adapters._types import ChatMessage, Usage

__all__ = ["CHARS_PER_TOKEN", "estimate_tokens", "usage_from"]

CHARS_PER_TOKEN = 4


def estimate_tokens(characters: int) -> int:
    """Tokens in text of `characters` characters, roughly (rounded up)."""
    return -(-characters // CHARS_PER_TOKEN)


def usage_from(raw: Any, messages: Sequence[ChatMessage], answered: int) -> Usage:
    """The `Usage` of an answer of `answered` characters (text and tool call arguments)
    whose `usage` object is `raw` (None when absent)."""
    if isinstance(raw, dict):
        prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens")
        if isinstance(prompt, int) or isinstance(completion, int):
            return Usage(prompt or 0, completion or 0)
        total = raw.get("total_tokens")
        if isinstance(total, int) and total > 0:
            completion = min(total, estimate_tokens(answered))
            return Usage(total - completion, completion, estimated=True)
    prompt_chars = sum(len(m.content) for m in messages if isinstance(m.content, str))
    return Usage(estimate_tokens(prompt_chars), estimate_tokens(answered), estimated=True)
