"""Evol-Instruct: rewrite an instruction into a harder or broader one; improve a response.

After WizardLM's Evol-Instruct (Xu et al. 2023, "WizardLM: Empowering Large Language
Models to Follow Complex Instructions", arXiv:2304.12244): in-depth mutations (deepen,
concretize, add constraints, increase reasoning) and in-breadth ones (switch topic,
breadth), and the response evolution of Deita's EVOL-QUALITY (Liu et al. 2023,
arXiv:2312.15685). The prompts are fanflow's own.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel

from fanflow._exceptions import ConfigurationError
from fanflow.steps import StepTemplate, Workflow
from fanflow.templates._fields import Fields

__all__ = ["MUTATIONS", "EvolveInstruct", "EvolveQuality", "pick_mutation"]

MUTATIONS: dict[str, str] = {
    "deepen": "Make it ask for more depth: the question behind it should probe further, "
    "so that a good answer has to go into more detail.",
    "concretize": "Replace general ideas with specific ones: name a concrete case, "
    "setting, dataset or example the answer must deal with.",
    "add_constraints": "Add one or two explicit requirements the answer must meet (a "
    "format, a length, something to include or avoid).",
    "increase_reasoning": "Rewrite it so that answering needs several steps of explicit "
    "reasoning rather than one recalled fact.",
    "switch_topic": "Keep its kind and difficulty but move it to a different, rarer topic "
    "in the same domain.",
    "breadth": "Write a brand-new instruction in the same domain and of similar length "
    "and difficulty, but about something it does not cover.",
}

_EVOLVE = """You rewrite instructions to build a harder, more varied instruction dataset.

Instruction:
{{instruction}}

Rewrite it this way ({{mutation}}): {{how}}
The new instruction must stay self-contained, answerable by a capable assistant, and \
must not mention that it was rewritten.
Reply with a JSON object {"instruction": "<the new instruction>", "mutation": "{{mutation}}"}."""

_QUALITY = """Improve the response to the instruction below: make it more helpful, more \
accurate and better organised, while still answering exactly what was asked.

Instruction:
{{instruction}}

Response:
{{response}}

Reply with a JSON object {"response": "<the improved response>"}."""


class ImprovedResponse(BaseModel):
    response: str


class EvolveInstruct(StepTemplate):
    """instruction -> an evolved instruction, with the mutation used.

    Input: `instruction` (str). Output: a JSON object `{"instruction", "mutation"}`
    (validated against a schema whose `mutation` is the one asked for); by default the
    next step gets both as fields, so `instruction` binds to the new one and rounds chain:

        builder << EvolveInstruct(mutation="random") << EvolveInstruct(name="round_2")

    `mutation`: one of `MUTATIONS` (deepen, concretize, add_constraints,
    increase_reasoning, switch_topic, breadth) or "random" (default), which picks one per
    task from `seed` (default 0) and the instruction's text: a task's lineage is not
    available to `create_workflow`, so the choice is a stable hash (sha256) of the seed
    and the instruction; the same instruction and seed always get the same mutation,
    across runs and machines.
    """

    def __init__(self, mutation: str = "random", seed: int = 0, name: str | None = None) -> None:
        if mutation != "random" and mutation not in MUTATIONS:
            raise ConfigurationError(
                f"EvolveInstruct: unknown mutation {mutation!r}; use 'random' or one of "
                f"{sorted(MUTATIONS)}"
            )
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ConfigurationError(f"EvolveInstruct: seed must be an int, got {seed!r}")
        super().__init__(name, mutation=mutation, seed=seed)
        self.flow = Fields()

    def create_workflow(self, instruction: str) -> Workflow:  # type: ignore[override]
        mutation = self.params.mutation
        if mutation == "random":
            mutation = pick_mutation(instruction, self.params.seed)
        return Workflow.from_prompt(
            _EVOLVE,
            schema=_evolved_schema(mutation),
            instruction=instruction,
            mutation=mutation,
            how=MUTATIONS[mutation],
        )


class EvolveQuality(StepTemplate):
    """instruction + response -> an improved response.

    Inputs: `instruction`, `response` (str). Output: a JSON object `{"response"}`; by
    default the next step gets `response` as a field (so rounds chain).

        builder << Answer() << EvolveQuality()
    """

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.flow = Fields()

    def create_workflow(self, instruction: str, response: str) -> Workflow:  # type: ignore[override]
        return Workflow.from_prompt(
            _QUALITY, schema=ImprovedResponse, instruction=instruction, response=response
        )


def pick_mutation(instruction: str, seed: int = 0) -> str:
    """The mutation `mutation="random"` uses for `instruction` with `seed`."""
    digest = hashlib.sha256(f"{seed}\0{instruction}".encode()).digest()
    names = list(MUTATIONS)
    return names[int.from_bytes(digest[:8], "big") % len(names)]


def _evolved_schema(mutation: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "instruction": {"type": "string"},
            "mutation": {"type": "string", "enum": [mutation]},
        },
        "required": ["instruction", "mutation"],
        "additionalProperties": False,
    }
