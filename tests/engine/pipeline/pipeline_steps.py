"""Step templates shared by the pipeline tests: one-task workflows with readable prompts."""

from __future__ import annotations

from fanflow import StepTemplate, Workflow


class Subtopics(StepTemplate):
    def create_workflow(self, topic: str) -> Workflow:
        return Workflow.from_prompt("subtopics of {{topic}}", topic=topic)


class Question(StepTemplate):
    def create_workflow(self, topic: str, subtopic: str) -> Workflow:
        return Workflow.from_prompt(
            "question on {{subtopic}} in {{topic}}", topic=topic, subtopic=subtopic
        )


class Answer(StepTemplate):
    def create_workflow(self, question: str) -> Workflow:
        return Workflow.from_prompt("answer {{question}}", question=question)


class Summary(StepTemplate):
    def create_workflow(self, answer: list[str]) -> Workflow:
        return Workflow.from_prompt("summarise {{answer}}", answer=answer)
