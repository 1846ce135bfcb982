"""`Answer`: a question (and optionally a passage to answer from) -> the answer text."""

from __future__ import annotations

from fanflow.templates._base import PromptTemplate

__all__ = ["Answer"]

_QUESTION = "{{question}}"

_WITH_CONTEXT = """\
Answer the question using the context below. Where the context does not hold the \
answer, say so plainly instead of guessing.

Context:
{{context}}

Question: {{question}}"""


class Answer(PromptTemplate):
    """Input `question` (and `context` with `context=True`) -> output the answer as text.

    `builder << GenerateQuestions(n=3).scatter() << Answer(system="Answer in two sentences.")`

    Without context the question is sent as it is, as the user message; with
    `context=True` the task also reads a `context` input (a row column or an earlier
    step's result) and is told to answer from it. `system` is an optional system prompt;
    `{{variables}}` in it are inputs too. The answer is free text, so no schema is sent.
    `name` names the step (default `answer`; give each a name when several models answer
    in branches).
    """

    def __init__(
        self, system: str | None = None, context: bool = False, *, name: str | None = None
    ) -> None:
        template = _WITH_CONTEXT if context else _QUESTION
        super().__init__(name, template, system=system, context=context)
        # `system` is kept by `Prompt` as self.system, which the pipeline file reads back.
