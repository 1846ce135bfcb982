"""Instruction variations: one instruction -> 5 variations (scatter) -> each one executed.

    python cookbook/instruction_variations.py --instruction "Write a haiku"
    python cookbook/instruction_variations.py --base-url http://127.0.0.1:8000/v1 --model m

Without --base-url it runs offline against fanflow's mock OpenAI server.
"""

from __future__ import annotations

import asyncio
from typing import Any

from _common import llm, parse_args, print_result

from fanflow import Pipeline, PipelineBuilder, PipelineConfig, PipelineResult, Prompt
from fanflow.adapters import LLMAdapter


def variations() -> Prompt:
    return Prompt(
        "variations",
        "Rewrite 5 variations of given instruction by making small changes. "
        "Instruction: {{instruction}}. Output a single Python list for new "
        "instructions, and nothing else. New instructions:",
    )


class BasicPipeline:
    def __init__(self, network: LLMAdapter, config: PipelineConfig | None = None):
        self.pipeline = PipelineBuilder(config or PipelineConfig(), network)

    def build(self, instruction: str) -> Pipeline:
        self.pipeline.input(instruction=instruction)
        self.pipeline << variations().scatter() << Prompt("execute", "{{instruction}}")
        return self.pipeline.build()


async def run(base_url: str | None, model: str, instruction: str, **config: Any) -> PipelineResult:
    """The whole pipeline against `base_url`, or offline when it is None."""
    async with llm(base_url, model) as network:
        pipeline = BasicPipeline(network, PipelineConfig(**config)).build(instruction)
        return await pipeline.execute()


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0], instruction="Write a haiku about the sea")
    result = asyncio.run(
        run(args.base_url, args.model, args.instruction, concurrency=args.concurrency)
    )
    print_result(result, args.out, ["instruction", "execute"])
