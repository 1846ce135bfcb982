"""Steps, callbacks, a schema and a mock handler that pipeline files name by import path."""

from __future__ import annotations

import orjson
from pydantic import BaseModel

import fanflow
from fanflow import GenerationRequest, StepOutput, StepTemplate, TaskInput, TaskResult, Workflow
from fanflow.callbacks import Callback


class Verdict(BaseModel):
    score: int


class Variations(StepTemplate):
    """Asks for `self.params.n` variations (a JSON list)."""

    def create_workflow(self, instruction: str) -> Workflow:
        prompt = f"list {self.params.n} {self.params.style} variations of {{{{instruction}}}}"
        return Workflow.from_prompt(prompt, instruction=instruction)


class Execute(StepTemplate):
    def create_workflow(self, instruction: str) -> Workflow:
        return Workflow.from_prompt("do {{instruction}}", instruction=instruction)


class Pick(StepTemplate):
    """Keeps its own constructor argument as an attribute, not in self.params."""

    def __init__(self, limit: int, name: str | None = None) -> None:
        super().__init__(name)
        self.limit = limit

    def create_workflow(self, execute: list[str]) -> Workflow:
        return Workflow.from_prompt(
            "pick from {{execute}} at most " + str(self.limit), execute=execute
        )

    def callback(self, step: StepOutput) -> list[TaskInput]:
        return [TaskInput(best=r.result) for r in step.output]


class Polish(StepTemplate):
    def create_workflow(self, best: str) -> Workflow:
        return Workflow.from_prompt("polish {{best}}", best=best)


class Tagged(Callback):
    """A user's callback with a constructor argument of its own."""

    def __init__(self, tag: str, key: str | None = None) -> None:
        super().__init__(key)
        self.tag = tag

    def map(self, result: TaskResult) -> TaskInput:
        return self.field(f"{self.tag}:{result.result}")


def answer(request: GenerationRequest) -> str:
    """Deterministic answers: JSON lists where asked for a list, JSON for a schema."""
    prompt = request.messages[-1].content
    if prompt.startswith("list "):
        count = int(prompt.split()[1])
        return orjson.dumps([f"{prompt[-12:]} #{i}" for i in range(count)]).decode()
    if request.json_schema is not None:
        return '{"score": ' + str(len(prompt) % 10) + "}"
    return f"{request.model}: {prompt}"


@fanflow.step
def keep_short(instruction: str) -> dict[str, str] | None:
    """A function step: drops the third variation."""
    return None if instruction.endswith("#2") else {"instruction": instruction}


def count_words(text: str) -> int:
    """A tool: how many words `text` has."""
    return len(text.split())
