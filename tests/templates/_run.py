"""Running one template through a pipeline on a `MockAdapter`, for the template tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fanflow import GenerationRequest, MockAdapter, PipelineBuilder, PipelineConfig, PipelineResult


async def run_steps(
    rows: list[dict[str, Any]],
    steps: list[Any],
    answer: Callable[[GenerationRequest], str],
) -> tuple[PipelineResult, MockAdapter]:
    """`rows` through `steps` (a chain) with `answer` as the model; no store."""
    adapter = MockAdapter(answer, model="mock")
    builder = PipelineBuilder(PipelineConfig(store=False), adapter)
    builder.input(rows)
    chain: Any = builder
    for step in steps:
        chain = chain << step
    return await builder.build().execute(), adapter


def prompt_of(request: GenerationRequest) -> str:
    """The task's prompt: its first user message (a repair request comes after it)."""
    return next(m.content for m in request.messages if m.role == "user")
