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
- `_evolve`: `EvolveInstruct` (Evol-Instruct mutations), `EvolveQuality`.
- `_judge`: `Rate` (scores per aspect), `PairwiseJudge` (both orders, ties).
- `_magpie`: `MagPie`, a multi-turn chat made by one workflow with a loop.
- `_preference`: `preference_pipeline`, answers from several models judged into
  chosen/rejected rows.
- `_base`: what the one-prompt templates share (a `Prompt` that keeps its constructor
  arguments); `_fields`: `Fields`, the flow that turns a JSON-object answer into
  next-step fields.

Structured answers are sent as the request's JSON schema, validated, and repaired once by
asking again; an answer that still does not fit fails that task only, quoting it.
Templates sit above `steps` and `callbacks`; only `_preference` uses the pipeline builder.
"""

from __future__ import annotations

from fanflow.templates._answer import Answer
from fanflow.templates._classify import Classify
from fanflow.templates._evolve import MUTATIONS, EvolveInstruct, EvolveQuality, pick_mutation
from fanflow.templates._fields import Fields
from fanflow.templates._judge import PairwiseJudge, PairwiseVerdict, Rate, pairwise_verdict
from fanflow.templates._magpie import DEFAULT_SYSTEM_PROMPT, MagPie
from fanflow.templates._persona import Persona, PersonaCard
from fanflow.templates._preference import PreferenceJudge, preference, preference_pipeline
from fanflow.templates._self_instruct import SelfInstruct
from fanflow.templates._topics import GenerateQuestions, GenerateSubtopics

__all__ = [
    "DEFAULT_SYSTEM_PROMPT",
    "MUTATIONS",
    "Answer",
    "Classify",
    "EvolveInstruct",
    "EvolveQuality",
    "Fields",
    "GenerateQuestions",
    "GenerateSubtopics",
    "MagPie",
    "PairwiseJudge",
    "PairwiseVerdict",
    "Persona",
    "PersonaCard",
    "PreferenceJudge",
    "Rate",
    "SelfInstruct",
    "pairwise_verdict",
    "pick_mutation",
    "preference",
    "preference_pipeline",
]
