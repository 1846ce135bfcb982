"""A small branching run for the report tests: topics -> questions (scatter) -> two model
branches -> a judge; one branch fails on one topic's questions, so the join skips them."""

from __future__ import annotations

import re
from pathlib import Path

import orjson

from fanflow import (
    GenerationRequest,
    MockAdapter,
    PipelineBuilder,
    PipelineConfig,
    PipelineResult,
)
from tests.branch_steps import Answer, Judge, Questions

TOPICS = ["rivers", "FAIL<script>alert('x')</script>", "lakes"]


def fake_llm(request: GenerationRequest) -> str:
    prompt = request.messages[-1].content
    if match := re.fullmatch(r"questions on (.+)", prompt, re.DOTALL):
        return orjson.dumps([f"{match[1]}-q{n}" for n in range(3)]).decode()
    if match := re.fullmatch(r"answer (.+)", prompt, re.DOTALL):
        if match[1].startswith("FAIL") and request.model == "qwen":
            number = match[1][-1]
            raise RuntimeError(f"qwen is down (request {number}, id 3fa85f64-5717-4562)")
        return f"{request.model}:A({match[1]})"
    return f"verdict[{prompt}]"


def demo_pipeline(store: Path | bool, name: str = "demo") -> PipelineBuilder:
    where: str | bool = False if store is False else str(store)
    config = PipelineConfig(progress=False, store=where, run_name=name, retry=None)  # type: ignore[arg-type]
    builder = PipelineBuilder(config, MockAdapter(fake_llm, model="base"))
    builder.input([{"topic": topic} for topic in TOPICS])
    llama = Answer(name="llama").set_models(["llama"])
    qwen = Answer(name="qwen").set_models(["qwen"])
    builder << Questions().scatter() << [llama, qwen] << Judge()
    return builder


async def run_demo(store: Path | bool, name: str = "demo") -> PipelineResult:
    return await demo_pipeline(store, name).build().execute()
