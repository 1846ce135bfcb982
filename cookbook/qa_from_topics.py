"""QA from topics: topic -> subtopics (scatter) -> one question each -> an answer each.

Every row keeps its topic, subtopic, question and answer.

    python cookbook/qa_from_topics.py --topics "quantum computing,protein folding"
    python cookbook/qa_from_topics.py --base-url http://127.0.0.1:8000/v1 --model m

Without --base-url it runs offline against fanflow's mock OpenAI server.
"""

from __future__ import annotations

import asyncio
from typing import Any

from _common import llm, parse_args, print_result

from fanflow import PipelineBuilder, PipelineConfig, PipelineResult, Prompt

SUBTOPICS = "List 5 distinct subtopics of {{topic}}. Reply with a JSON list of strings only."
QUESTION = (
    "Write one clear exam question about {{subtopic}} (part of {{topic}}). "
    "Reply with the question only."
)
ANSWER = "Give a correct, concise answer to this question: {{question}}"


def build_pipeline(builder: PipelineBuilder, topics: list[str]) -> PipelineBuilder:
    builder.input([{"topic": topic} for topic in topics])
    # The list of subtopics scatters into `subtopic`, the question's one variable that no
    # input column or earlier step fills; `topic` comes from the input row.
    (
        builder
        << Prompt("subtopics", SUBTOPICS).scatter()
        << Prompt("question", QUESTION)
        << Prompt("answer", ANSWER)
    )
    return builder


async def run(base_url: str | None, model: str, topics: list[str], **config: Any) -> PipelineResult:
    """The whole pipeline against `base_url`, or offline when it is None."""
    async with llm(base_url, model) as network:
        builder = PipelineBuilder(PipelineConfig(**config), network)
        return await build_pipeline(builder, topics).build().execute()


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0], topics="quantum computing,protein folding")
    topics = [topic.strip() for topic in args.topics.split(",") if topic.strip()]
    result = asyncio.run(run(args.base_url, args.model, topics, concurrency=args.concurrency))
    print_result(result, args.out, ["topic", "subtopic", "question", "answer"])
