"""`GenerateSubtopics` and `GenerateQuestions`: a topic tree, then questions at its leaves.

```python
builder.input(topic="the history of cartography")
builder << GenerateSubtopics(n=5).scatter() << GenerateQuestions(n=3).scatter() << Answer()
```

Both answer a JSON array of strings (sent as the request's JSON schema, at most `n`
items), so `.scatter()` makes one next-step task per item; each item binds to the next
step's one input (`topic` for `GenerateQuestions`, `question` for `Answer`).
"""

from __future__ import annotations

from typing import Literal

from fanflow.templates._base import PromptTemplate, check_choice, check_count, string_list_schema

__all__ = ["GenerateQuestions", "GenerateSubtopics"]

_SUBTOPICS = """\
List <n> distinct subtopics of the topic below. Each subtopic should be specific enough \
to ask several questions about; together they should cover different sides of the topic, \
without overlapping or repeating the topic itself.

Topic: {{topic}}

Answer with a JSON array of <n> strings, each one subtopic in a few words, and nothing else."""

_QUESTIONS_ON_TOPIC = """\
Write <n> questions that a curious, well-read person might ask about the topic below. \
Make them varied: facts, explanations, comparisons, causes and consequences. Each \
question must stand on its own, understandable without seeing the topic line.

Topic: {{topic}}

Answer with a JSON array of <n> strings, one question each, and nothing else."""

_QUESTIONS_ON_CONTEXT = """\
Write <n> questions that can be answered from the passage below, and from it alone. \
Ask about its main points rather than small details. Each question must stand on its \
own: name what it is about instead of saying "the passage" or "the text".

Passage:
{{context}}

Answer with a JSON array of <n> strings, one question each, and nothing else."""


class GenerateSubtopics(PromptTemplate):
    """Input `topic` -> output a JSON list of at most `n` subtopics (default 5).

    `builder << GenerateSubtopics(n=5).scatter() << GenerateQuestions(n=3)`

    Scatter-ready: `.scatter()` makes one task per subtopic, bound to the next step's one
    input; chained twice it grows a topic tree. `name` names the step (default
    `generate_subtopics`).
    """

    def __init__(self, n: int = 5, *, name: str | None = None) -> None:
        n = check_count("GenerateSubtopics", "n", n)
        template = _SUBTOPICS.replace("<n>", str(n))
        super().__init__(name, template, string_list_schema("subtopics", n), n=n)


class GenerateQuestions(PromptTemplate):
    """Input `topic` (or `context`, a passage) -> output a JSON list of at most `n`
    questions (default 3).

    `builder << GenerateQuestions(n=3, source="context").scatter() << Answer(context=True)`

    `source="topic"` (the default) asks questions about a topic; `source="context"` asks
    questions answerable from a passage in the `context` input (the idea of generating
    QA pairs from documents, as in Alberti et al. 2019, "Synthetic QA Corpora Generation
    with Roundtrip Consistency"). `name` names the step (default `generate_questions`).
    """

    def __init__(
        self,
        n: int = 3,
        source: Literal["topic", "context"] = "topic",
        *,
        name: str | None = None,
    ) -> None:
        n = check_count("GenerateQuestions", "n", n)
        kind = check_choice("GenerateQuestions", "source", source, ("topic", "context"))
        text = _QUESTIONS_ON_TOPIC if kind == "topic" else _QUESTIONS_ON_CONTEXT
        template = text.replace("<n>", str(n))
        super().__init__(name, template, string_list_schema("questions", n), n=n, source=kind)
