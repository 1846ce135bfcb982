"""MagPie: a whole multi-turn chat from one task, the model writing both sides.

After Magpie (Xu et al. 2024, "Magpie: Alignment Data Synthesis from Scratch by Prompting
Aligned LLMs with Nothing", arXiv:2406.08464), which has an aligned model write the user's
turn itself. Over a chat-completions API there is no raw pre-query template to leave
open, so here the model is asked, in fanflow's own prompts, for the next user message
given the system prompt and the chat so far, then answers it as the assistant.

The workflow is one loop: `user_1 -> assistant -> user -> assistant -> ...`; each task
pushes a `{"role", "content"}` object (structured output) onto the `chat` stack, and the
edge after `assistant` ends the workflow once the stack holds `2 * turns` messages.
"""

from __future__ import annotations

from typing import Any

from fanflow._exceptions import ConfigurationError
from fanflow.steps import (
    ConditionBuilder,
    Edge,
    Expression,
    Push,
    Size,
    StepTemplate,
    Workflow,
    WorkflowBuilder,
)
from fanflow.steps._parts import END_TASK_ID

__all__ = ["DEFAULT_SYSTEM_PROMPT", "MagPie"]

DEFAULT_SYSTEM_PROMPT = "You are a helpful, knowledgeable assistant."

_FIRST_USER = """You are writing a realistic conversation between a user and an AI \
assistant. The assistant's system prompt is:
{{system_prompt}}

Write the user's first message: something a real user of this assistant would ask or \
request, specific and self-contained.
Reply with a JSON object {"role": "user", "content": "<the message>"}."""

_NEXT_USER = """You are writing a realistic conversation between a user and an AI \
assistant. The assistant's system prompt is:
{{system_prompt}}

The conversation so far, one JSON message per line:
{{chat}}

Write the user's next message: a natural follow-up (a deeper question, a correction, a \
related request), not a thank-you.
Reply with a JSON object {"role": "user", "content": "<the message>"}."""

_ASSISTANT = """The conversation so far, one JSON message per line:
{{chat}}

Write the assistant's reply to the last user message.
Reply with a JSON object {"role": "assistant", "content": "<the reply>"}."""

_MAX_TURNS = 50


class MagPie(StepTemplate):
    """A multi-turn chat, returned as its `messages`: `turns` user messages, each
    answered (`turns=2` gives 4 messages: user, assistant, user, assistant).

    `turns` (default 3), `system_prompt` (default `DEFAULT_SYSTEM_PROMPT`; an input
    column `system_prompt` overrides it per row; it goes to the assistant as its system
    message and is not in the output). Output: a JSON array of `{"role", "content"}`
    messages. The step's name, and so its column, defaults to `messages`. One task makes
    the whole chat (`2 * turns` requests); give one input row per chat wanted, and sample
    (`set_generation(temperature=1.0)`) so identical rows give different chats:

        builder.input([{"system_prompt": "You are a math tutor."}] * 100)
        builder << MagPie(turns=2).set_generation(temperature=1.0)
    """

    def __init__(
        self,
        turns: int = 3,
        system_prompt: str = DEFAULT_SYSTEM_PROMPT,
        name: str | None = "messages",
    ) -> None:
        if not isinstance(turns, int) or isinstance(turns, bool) or not 1 <= turns <= _MAX_TURNS:
            raise ConfigurationError(
                f"MagPie: turns must be a whole number from 1 to {_MAX_TURNS}, got {turns!r}"
            )
        if not isinstance(system_prompt, str) or not system_prompt.strip():
            raise ConfigurationError("MagPie: system_prompt must be non-empty text")
        super().__init__(name, turns=turns, system_prompt=system_prompt)

    def create_workflow(self, system_prompt: str | None = None) -> Workflow:  # type: ignore[override]
        return magpie_workflow(self.params.turns, system_prompt or self.params.system_prompt)


def magpie_workflow(turns: int, system_prompt: str) -> Workflow:
    """The chat loop; its result is the `chat` stack as a JSON array of messages."""
    builder = WorkflowBuilder(system_prompt=system_prompt)
    chat = [Push.new("chat")]
    builder.generative_step(
        id="user_1", prompt=_FIRST_USER, schema=_message_schema("user"), outputs=chat
    )
    builder.generative_step(
        id="assistant",
        prompt=_ASSISTANT,
        schema=_message_schema("assistant"),
        outputs=chat,
        msg_history=[{"role": "system", "content": "{{system_prompt}}"}],
    )
    builder.generative_step(
        id="user", prompt=_NEXT_USER, schema=_message_schema("user"), outputs=chat
    )
    done = ConditionBuilder.build(
        expected=2 * turns,
        expression=Expression.EQUAL,
        input=Size.new("chat"),
        target_if_not="user",
    )
    builder.flow([
        Edge(source="user_1", target="assistant"),
        Edge(source="assistant", target=END_TASK_ID, condition=done),
        Edge(source="user", target="assistant"),
    ])  # fmt: skip
    builder.set_max_steps(2 * turns)
    builder.set_return_value("chat")
    return builder.build()


def _message_schema(role: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "role": {"type": "string", "enum": [role]},
            "content": {"type": "string"},
        },
        "required": ["role", "content"],
        "additionalProperties": False,
    }
