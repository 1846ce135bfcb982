"""Quickstart: build a workflow, run it against an OpenAI-compatible server, print the result.

The workflow writes a question about a topic, answers it, and loops until it has three
answers. By default it starts fanflow's own mock OpenAI server on 127.0.0.1, so it runs
offline; point it at a real server with `--base-url` and `--model` (or the environment
variables FANFLOW_BASE_URL, FANFLOW_MODEL and OPENAI_API_KEY):

    python cookbook/quickstart.py
    python cookbook/quickstart.py --base-url http://127.0.0.1:11434/v1 --model llama3.1
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from fanflow import (
    ConditionBuilder,
    Edge,
    Expression,
    OpenAIAdapter,
    Push,
    Size,
    Workflow,
    WorkflowBuilder,
    Write,
    run_workflow,
)
from fanflow.testing import MockServer


def build_workflow(topic: str) -> Workflow:
    """question -> answer, looping until three answers are pushed."""
    builder = WorkflowBuilder(topic=topic)
    builder.generative_step(
        id="question",
        prompt="Write one short question about {{topic}}. Reply with the question only.",
        outputs=[Write.new("question")],
    )
    builder.generative_step(
        id="answer",
        prompt="Answer this question in one sentence: {{question}}",
        outputs=[Push.new("answers")],
    )
    enough = ConditionBuilder.build(
        expected=3,
        expression=Expression.GREATER_THAN_OR_EQUAL,
        input=Size.new("answers"),
        target_if_not="question",
    )
    builder.flow(
        [
            Edge(source="question", target="answer"),
            Edge(source="answer", target="_end", condition=enough),
        ]
    )
    builder.set_return_value("answers")
    return builder.build()


def mock_answer(body: dict[str, Any]) -> str:
    """Plausible offline answers, so the mock run reads like a real one."""
    prompt = body["messages"][-1]["content"]
    if prompt.startswith("Write one short question"):
        return "How do qubits differ from classical bits?"
    return "A qubit can hold a superposition of 0 and 1, while a bit is always one or the other."


async def main(base_url: str | None, model: str, topic: str) -> None:
    workflow = build_workflow(topic)
    print(workflow.model_dump_json(indent=2)[:400], "...\n")
    if base_url is not None:
        await run_and_print(workflow, base_url, model)
        return
    async with MockServer(mock_answer) as server:
        print(f"mock OpenAI server at {server.base_url}")
        await run_and_print(workflow, server.base_url, model)


async def run_and_print(workflow: Workflow, base_url: str, model: str) -> None:
    api_key = os.environ.get("OPENAI_API_KEY")
    async with OpenAIAdapter(base_url=base_url, api_key=api_key, model=model) as adapter:
        result = await run_workflow(workflow, adapter)
    print(f"path: {' -> '.join(result.path)}")
    print(f"tokens: {result.usage.prompt_tokens} prompt, {result.usage.completion_tokens} out")
    for number, answer in enumerate(result.value, start=1):
        print(f"answer {number}: {answer}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default=os.environ.get("FANFLOW_BASE_URL"))
    parser.add_argument("--model", default=os.environ.get("FANFLOW_MODEL", "mock-model"))
    parser.add_argument("--topic", default="quantum computing")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()
    asyncio.run(main(args.base_url, args.model, args.topic))
