"""Ready steps for the common datasets, each one line in a pipeline.

```python
from fanflow.templates import Answer, GenerateQuestions, GenerateSubtopics

builder.input(topic="volcanoes")
builder << GenerateSubtopics(n=5).scatter() << GenerateQuestions(n=3).scatter() << Answer()
```

Modules:

- `_topics`: `GenerateSubtopics(n=)` (topic -> list of subtopics), `GenerateQuestions(n=,
  source=)` (topic or passage -> list of questions)
- `_answer`: `Answer(system=, context=)` (question, optional context -> answer text)
- `_self_instruct`: `SelfInstruct(n=, source=)` (seed instructions or an app description
  -> new instructions)
- `_persona`: `Persona()` (a population -> a persona: name, traits, backstory)
- `_classify`: `Classify(labels=)` (text -> one of the labels, checked against the list)
- `_base`: what they share (a one-prompt step that keeps its constructor arguments)

Each is a `fanflow.Prompt` with fanflow's own prompt text: structured answers are sent as
the request's JSON schema, validated, and repaired once by asking again; an answer that
still does not fit fails that task only, with the reason.
"""

from __future__ import annotations

from fanflow.templates._answer import Answer
from fanflow.templates._classify import Classify
from fanflow.templates._persona import Persona, PersonaCard
from fanflow.templates._self_instruct import SelfInstruct
from fanflow.templates._topics import GenerateQuestions, GenerateSubtopics

__all__ = [
    "Answer",
    "Classify",
    "GenerateQuestions",
    "GenerateSubtopics",
    "Persona",
    "PersonaCard",
    "SelfInstruct",
]
