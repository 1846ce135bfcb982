"""Questions, filtered and deduplicated in plain Python, then answered.

topic -> questions (scatter) -> keep_long (drop short ones) -> dedupe (over every
question of the run) -> an answer each. The two middle steps are `@fanflow.step`
functions: they cost no request, and a second run takes their results from the store.

    python cookbook/filter_and_dedupe.py --topics "sql,dns"
    python cookbook/filter_and_dedupe.py --base-url http://127.0.0.1:8000/v1 --model m

Without --base-url it runs offline against fanflow's mock OpenAI server.
"""

from __future__ import annotations

import asyncio
from typing import Any

from _common import llm, parse_args, print_result

import fanflow
from fanflow import PipelineBuilder, PipelineConfig, PipelineResult, StepTemplate, Workflow

QUESTIONS = (
    "Write 5 exam questions about {{topic}}, some short, some long. "
    "Reply with a JSON list of strings only."
)
ANSWER = "Give a correct, concise answer to this question: {{question}}"


class Questions(StepTemplate):
    def create_workflow(self, topic: str) -> Workflow:
        return Workflow.from_prompt(QUESTIONS, topic=topic)


class Answer(StepTemplate):
    def create_workflow(self, question: str) -> Workflow:
        return Workflow.from_prompt(ANSWER, question=question)


@fanflow.step
def keep_long(question: str, topic: str) -> dict[str, Any] | None:
    """One next input per long question; None filters a short one out (not a failure)."""
    return {"question": question, "topic": topic} if len(question) > 20 else None


@fanflow.step(group="all")
async def dedupe(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Called once with every row that reached this step; one next input per question kept.
    After group="all" only what is returned travels on, so `topic` is passed along."""
    seen: set[str] = set()
    kept = []
    for row in rows:
        normal = " ".join(row["question"].lower().split())
        if normal not in seen:
            seen.add(normal)
            kept.append({"question": row["question"], "topic": row["topic"]})
    return kept


def build_pipeline(builder: PipelineBuilder, topics: list[str]) -> PipelineBuilder:
    builder.input([{"topic": topic} for topic in topics])
    builder << Questions().scatter() << keep_long << dedupe << Answer()
    return builder


async def run(base_url: str | None, model: str, topics: list[str], **config: Any) -> PipelineResult:
    """The whole pipeline against `base_url`, or offline when it is None."""
    async with llm(base_url, model) as network:
        builder = PipelineBuilder(PipelineConfig(**config), network)
        return await build_pipeline(builder, topics).build().execute()


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0], topics="sql,dns")
    topics = [topic.strip() for topic in args.topics.split(",") if topic.strip()]
    result = asyncio.run(run(args.base_url, args.model, topics, concurrency=args.concurrency))
    print_result(result, args.out, ["topic", "question", "answer"])
