"""Shared helpers of the template tests: a pipeline on a `MockAdapter`, no store."""

from __future__ import annotations

from fanflow import MockAdapter, PipelineBuilder, PipelineConfig


def builder(adapter: MockAdapter, rows: list[dict[str, object]]) -> PipelineBuilder:
    config = PipelineConfig(progress=False, store=False)
    return PipelineBuilder(config, adapter).input(rows)
