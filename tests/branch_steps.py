"""Steps of the branching test pipelines (topics -> questions -> two answers -> a judge),
shared by the graph, report and Ray tests; importable by path, as Ray's workers need."""

from __future__ import annotations

from fanflow import StepTemplate, Workflow


class Questions(StepTemplate):
    def create_workflow(self, topic: str) -> Workflow:
        return Workflow.from_prompt("questions on {{topic}}", topic=topic)


class Answer(StepTemplate):
    def create_workflow(self, question: str) -> Workflow:
        return Workflow.from_prompt("answer {{question}}", question=question)


class Judge(StepTemplate):
    def create_workflow(self, question: str, llama: str, qwen: str) -> Workflow:
        return Workflow.from_prompt(
            "judge {{question}}: {{llama}} | {{qwen}}", question=question, llama=llama, qwen=qwen
        )
