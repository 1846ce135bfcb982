"""Step templates shared by the pipeline tests: one-task workflows with readable prompts."""

from __future__ import annotations

from fanflow import StepTemplate, Workflow, WorkflowBuilder, Write


def one_task(prompt: str, **memory: str) -> Workflow:
    """A workflow that asks `prompt` once and returns the answer."""
    builder = WorkflowBuilder(**memory)
    builder.generative_step(id="ask", prompt=prompt, outputs=[Write.new("out")])
    builder.set_return_value("out")
    return builder.build()


class Subtopics(StepTemplate):
    def create_workflow(self, topic: str) -> Workflow:
        return one_task("subtopics of {{topic}}", topic=topic)


class Question(StepTemplate):
    def create_workflow(self, topic: str, subtopic: str) -> Workflow:
        return one_task("question on {{subtopic}} in {{topic}}", topic=topic, subtopic=subtopic)


class Answer(StepTemplate):
    def create_workflow(self, question: str) -> Workflow:
        return one_task("answer {{question}}", question=question)


class Summary(StepTemplate):
    def create_workflow(self, answer: list[str]) -> Workflow:
        return one_task("summarise {{answer}}", answer=answer)
