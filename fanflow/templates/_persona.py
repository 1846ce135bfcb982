"""`Persona`: a description of a population -> one person of it (name, traits, backstory).

The idea of steering synthetic data with many personas is from Persona Hub (Ge et al.
2024, "Scaling Synthetic Data Creation with 1,000,000,000 Personas"); the prompt is
fanflow's own.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from fanflow.templates._base import PromptTemplate

__all__ = ["Persona", "PersonaCard"]

_PERSONA = """\
Invent one specific, believable person who belongs to this population:

{{population}}

Avoid the most obvious stereotype: give them a particular age, occupation, place and \
circumstances, and habits or opinions that make them distinct from others in the same \
population.

Answer with a JSON object with the keys "name" (their full name), "traits" (3 to 6 short \
phrases: personality, skills, values) and "backstory" (a paragraph of 3 to 5 sentences), \
and nothing else."""


class PersonaCard(BaseModel):
    """What `Persona` answers."""

    name: str = Field(min_length=1)
    traits: list[str] = Field(min_length=1)
    backstory: str = Field(min_length=1)


class Persona(PromptTemplate):
    """Input `population` (who to draw from) -> output a `PersonaCard` as a JSON object:
    `{"name": ..., "traits": [...], "backstory": ...}`.

    `builder << Persona().broadcast(3) << Prompt("ask", "As {{persona}}, ask about {{topic}}")`

    For many different personas of one population, broadcast the row before this step and
    sample with a seed (`.set_generation(temperature=1.0, seed=7)`: each sibling task
    sends its own seed). `name` names the step (default `persona`).
    """

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__(name, _PERSONA, PersonaCard)
