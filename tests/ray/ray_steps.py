"""Steps, functions and a mock handler the Ray tests' pipelines name by import path (Ray's
workers import them: this module is on the driver's `sys.path`, which Ray gives them)."""

from __future__ import annotations

import re
from typing import Any

import orjson

import fanflow
from fanflow import GenerationRequest, StepOutput, StepTemplate, TaskInput, Workflow


class Summary(StepTemplate):
    def create_workflow(self, answer: list[str]) -> Workflow:
        return Workflow.from_prompt("summarize {{answer}}", answer=" / ".join(answer))


class AnswerAll(StepTemplate):
    """Answers, then gives the next step every answer of the step at once (a custom
    callback: a barrier over the whole step)."""

    def create_workflow(self, question: str) -> Workflow:
        return Workflow.from_prompt("answer {{question}}", question=question)

    def callback(self, step: StepOutput) -> list[TaskInput]:
        return [TaskInput(answer=[result.result for result in step.output])]


class Expand(StepTemplate):
    """After a barrier: one prompt over every answer, scattered into many questions."""

    def create_workflow(self, answer: list[str]) -> Workflow:
        return Workflow.from_prompt("12 questions on {{n}} answers", n=str(len(answer)))


def fake_llm(request: GenerationRequest) -> str:
    return answer_to(request.messages[-1].content, request.model)


def answer_to(prompt: str, model: str | None) -> str:
    """The same answers for MockAdapter (in a worker) and the mock server's handler."""
    if match := re.fullmatch(r"(\d+) questions on (.+)", prompt):  # every 5th one fails
        count, topic = int(match[1]), match[2].replace(" ", "_")
        return orjson.dumps([f"{topic}-{'FAIL' * (n % 5 == 4)}q{n}" for n in range(count)]).decode()
    if match := re.fullmatch(r"questions on (.+)", prompt):
        return orjson.dumps([f"{match[1]}-q{n}" for n in range(3)]).decode()
    if match := re.fullmatch(r"answer (.+)", prompt):
        if "FAIL" in match[1]:
            raise RuntimeError("this answer fails")
        return f"{model}:A({match[1]})"
    return f"verdict[{prompt}]"


def server_handler(body: dict[str, Any]) -> str:
    """`MockServer`'s handler: the chat body's last message, answered as above."""
    return answer_to(body["messages"][-1]["content"], body.get("model"))


@fanflow.step
def shout(answer: str) -> dict[str, Any] | None:
    if answer.endswith("q1)"):
        return None  # filtered
    return {"loud": answer.upper()}


@fanflow.step(group="all")
def count_all(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"total": len(rows), "first": sorted(str(row["answer"]) for row in rows)[0]}


@fanflow.step
def die_once(answer: str, marker: str) -> dict[str, Any]:
    """Kills its worker process the first time any task reaches it (a worker that dies)."""
    import os
    from pathlib import Path

    if answer.endswith("q2)") and not Path(marker).exists():
        Path(marker).write_text("died once")
        os._exit(1)
    return {"kept": answer}


def key_seen_by_worker(document: bytes, expected: str) -> bool:
    """In a Ray worker: the pipeline made from the document has the environment's key."""
    from pathlib import Path

    from fanflow.engine.pipeline._file_format import FileError
    from fanflow.engine.pipeline._file_load import pipeline_from_document

    pipeline = pipeline_from_document(orjson.loads(document), FileError("-"), Path("x.json"))
    adapter = pipeline.network
    while getattr(adapter, "wrapped", None) is not None:
        adapter = adapter.wrapped
    return bool(adapter._headers.get("Authorization") == f"Bearer {expected}")
