"""`SelfInstruct`: seed instructions, or a description of an application, -> new ones.

The idea is Self-Instruct (Wang et al. 2023, "Self-Instruct: Aligning Language Models
with Self-Generated Instructions", ACL 2023): show a model a few instructions and ask it
for new, different ones; the prompt is fanflow's own.
"""

from __future__ import annotations

from typing import Literal

from fanflow.templates._base import PromptTemplate, check_choice, check_count, string_list_schema

__all__ = ["SelfInstruct"]

_FROM_SEEDS = """\
Here are example instructions that users gave an AI assistant:

{{seeds}}

Write <n> new instructions in the same spirit. Do not copy or lightly reword the \
examples: vary the task type (writing, analysis, coding, planning, explaining, \
classifying), the subject and the length. Each instruction must be self-contained: \
include any text or data it refers to.

Answer with a JSON array of <n> strings, one instruction each, and nothing else."""

_FROM_DESCRIPTION = """\
An AI application is described as follows:

{{description}}

Write <n> different instructions that real users of this application might give it. \
Vary their difficulty, length and intent, and make each self-contained: include any \
text or data it refers to.

Answer with a JSON array of <n> strings, one instruction each, and nothing else."""


class SelfInstruct(PromptTemplate):
    """Input `seeds` (example instructions: a list or text) or, with
    `source="description"`, `description` (what an application does) -> output a JSON list
    of at most `n` new instructions (default 5).

    `builder << SelfInstruct(n=10, source="description").scatter() << Answer()`

    Scatter-ready: `.scatter()` makes one task per instruction. `name` names the step
    (default `self_instruct`).
    """

    def __init__(
        self,
        n: int = 5,
        source: Literal["seeds", "description"] = "seeds",
        *,
        name: str | None = None,
    ) -> None:
        n = check_count("SelfInstruct", "n", n)
        choices = ("seeds", "description")
        kind = check_choice("SelfInstruct", "source", source, choices)
        text = _FROM_SEEDS if kind == "seeds" else _FROM_DESCRIPTION
        template = text.replace("<n>", str(n))
        super().__init__(name, template, string_list_schema("instructions", n), n=n, source=kind)
