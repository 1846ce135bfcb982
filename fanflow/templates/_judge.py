"""LLM-as-a-judge: `Rate` scores a response per aspect, `PairwiseJudge` compares two.

After "Judging LLM-as-a-Judge with MT-Bench and Chatbot Arena" (Zheng et al. 2023,
arXiv:2306.05685): a rationale before the score, and pairwise verdicts asked in both
orders, a disagreement counting as a tie, to cancel position bias. UltraFeedback (Cui et
al. 2023, arXiv:2310.01377) rates per aspect. The prompts are fanflow's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel

from fanflow._exceptions import ConfigurationError, ParseError
from fanflow._json import parse_lenient
from fanflow._values import TaskInput, TaskResult
from fanflow.callbacks import Callback
from fanflow.steps import Edge, StepTemplate, Workflow, WorkflowBuilder, Write
from fanflow.templates._fields import Fields

__all__ = ["PairwiseJudge", "PairwiseVerdict", "Rate", "pairwise_verdict"]

DEFAULT_ASPECTS = ("helpfulness", "correctness", "clarity")

_RATE = """Rate the response to the instruction below on each aspect: {{aspects}}.
For each aspect give a short rationale first, then a whole-number score from 1 (very \
poor) to 10 (excellent).

Instruction:
{{instruction}}

Response:
{{response}}

Reply with a JSON object with one key per aspect, each {"rationale": "...", "score": n}."""

_COMPARE = """Two assistants answered the same instruction. Decide which response is \
better: more helpful, correct and relevant. Ignore their order and their length as such.

Instruction:
{{instruction}}

Response A:
{{first}}

Response B:
{{second}}

Reply with a JSON object {"rationale": "<why>", "better": "A" or "B"}."""

_VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "rationale": {"type": "string"},
        "better": {"type": "string", "enum": ["A", "B"]},
    },
    "required": ["rationale", "better"],
    "additionalProperties": False,
}


class Rate(StepTemplate):
    """instruction + response -> a score from 1 to 10 and a rationale per aspect.

    Inputs: `instruction`, `response` (str). `aspects`: the names to score (default
    helpfulness, correctness, clarity). Output: a JSON object
    `{aspect: {"rationale": str, "score": int}}`, validated (every aspect present, scores
    whole numbers 1-10); by default the next step gets one field per aspect.

        builder << Answer() << Rate(aspects=["helpfulness", "harmlessness"])
    """

    def __init__(self, aspects: Sequence[str] = DEFAULT_ASPECTS, name: str | None = None) -> None:
        if (
            isinstance(aspects, str)
            or not aspects
            or not all(isinstance(a, str) and a for a in aspects)
        ):
            raise ConfigurationError(
                f"Rate: aspects must be a non-empty list of names, got {aspects!r}; "
                "write Rate(aspects=['helpfulness'])"
            )
        super().__init__(name, aspects=list(aspects))
        self._schema = _rating_schema(list(aspects))
        self.flow = Fields()

    def create_workflow(self, instruction: str, response: str) -> Workflow:  # type: ignore[override]
        return Workflow.from_prompt(
            _RATE,
            schema=self._schema,
            aspects=", ".join(self.params.aspects),
            instruction=instruction,
            response=response,
        )


Winner = Literal["a", "b"]


class PairwiseVerdict(BaseModel):
    """The combined verdict: `winner` "a", "b" or "tie" (the two orders disagree)."""

    winner: Literal["a", "b", "tie"]
    rationale: str
    verdicts: list[str]


class PairwiseJudge(StepTemplate):
    """instruction + two responses -> which is better ("a", "b" or "tie"), and why.

    Inputs: `instruction`, `response_a`, `response_b` (str). One task is one workflow of
    two generation tasks: the judge is asked with A first, then again with the order
    swapped; each answer is `{"rationale", "better": "A"|"B"}` (validated). The step's
    result is both answers as a JSON array (`[first_order, swapped_order]`);
    `pairwise_verdict(text)` combines them into a `PairwiseVerdict`, a tie when the two
    disagree, and by default the next step gets its fields (`winner`, `rationale`,
    `verdicts`).

        builder << [Answer(name="response_a"), Answer(name="response_b")] << PairwiseJudge()
    """

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.flow = _VerdictFields()

    def create_workflow(  # type: ignore[override]
        self, instruction: str, response_a: str, response_b: str
    ) -> Workflow:
        return pairwise_workflow(instruction, response_a, response_b)


def pairwise_workflow(instruction: str, response_a: str, response_b: str) -> Workflow:
    """The two-order comparison; its result is `[verdict A-first, verdict B-first]`."""
    builder = WorkflowBuilder(instruction=instruction, a=response_a, b=response_b)
    for task, first, second in (("a_first", "a", "b"), ("b_first", "b", "a")):
        prompt = _COMPARE.replace("{{first}}", "{{" + first + "}}").replace(
            "{{second}}", "{{" + second + "}}"
        )
        builder.generative_step(
            id=task, prompt=prompt, schema=_VERDICT_SCHEMA, outputs=[Write.new(task)]
        )
    builder.flow([Edge(source="a_first", target="b_first")])
    builder.set_return_value(["a_first", "b_first"])
    return builder.build()


def pairwise_verdict(text: str) -> PairwiseVerdict:
    """`PairwiseJudge`'s result combined: "a" or "b" when both orders agree, else "tie";
    the rationale of the first order (both when they disagree). `ParseError` (with the
    raw text) when `text` is not two verdicts."""
    value = parse_lenient(text)
    try:
        first, swapped = (v if isinstance(v, dict) else parse_lenient(v) for v in value)
        winners: tuple[Winner, Winner] = (
            "a" if first["better"] == "A" else "b",
            "b" if swapped["better"] == "A" else "a",  # B was shown first
        )
        rationales = [str(first["rationale"]), str(swapped["rationale"])]
    except (TypeError, ValueError, KeyError):
        raise ParseError(
            f"not two pairwise verdicts (a JSON array of two objects with 'better' and "
            f"'rationale'): {text[:120]!r}",
            raw=text,
        ) from None
    if winners[0] == winners[1]:
        return PairwiseVerdict(winner=winners[0], rationale=rationales[0], verdicts=list(winners))
    joined = f"A first: {rationales[0]}\nB first: {rationales[1]}"
    return PairwiseVerdict(winner="tie", rationale=joined, verdicts=list(winners))


class _VerdictFields(Callback):
    """`PairwiseJudge`'s two verdicts become the fields of a `PairwiseVerdict`."""

    binds_target = False

    def map(self, result: TaskResult) -> TaskInput:
        return TaskInput(pairwise_verdict(result.result).model_dump())


def _rating_schema(aspects: list[str]) -> dict[str, Any]:
    rating = {
        "type": "object",
        "properties": {
            "rationale": {"type": "string"},
            "score": {"type": "integer", "minimum": 1, "maximum": 10},
        },
        "required": ["rationale", "score"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": dict.fromkeys(aspects, rating),
        "required": aspects,
        "additionalProperties": False,
    }
