"""`PipelineConfig`: bad settings are `ConfigurationError`s naming the field."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from pydantic import ValidationError

from fanflow import (
    ConfigurationError,
    GenerationRequest,
    MockAdapter,
    PipelineBuilder,
    PipelineConfig,
    Prompt,
)


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": 2.5}, "concurrency"),
        ({"task_timeout": math.nan}, "task_timeout"),
        ({"task_timeout": -1}, "task_timeout"),
        ({"max_cost": math.nan}, "max_cost"),
        ({"max_tokens_total": 0}, "max_tokens_total"),
        ({"on_error": "ignore"}, "on_error"),
        ({"concurency": 8}, "concurency"),
        ({"prices": {"m": (math.nan, 1.0)}}, "prices"),
        ({"prices": {"m": (1.0, -0.5)}}, "prices"),
        ({"prices": {"m": (math.inf, 1.0)}}, "prices"),
    ],
)
def test_a_bad_setting_is_a_configuration_error_naming_the_field(
    settings: dict[str, Any], field: str
) -> None:
    with pytest.raises(ConfigurationError, match=f"PipelineConfig.*{field}") as caught:
        PipelineConfig(**settings)

    assert not isinstance(caught.value, ValidationError)
    assert isinstance(caught.value.__cause__, ValidationError)


def test_model_validate_also_gives_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="concurrency"):
        PipelineConfig.model_validate({"concurrency": -3})
    with pytest.raises(ConfigurationError, match="task_timeout"):
        PipelineConfig.model_validate_json('{"task_timeout": 0}')


def test_good_prices_are_kept() -> None:
    config = PipelineConfig(prices={"m": (0.0, 2.5)})

    assert config.prices == {"m": (0.0, 2.5)}


async def test_a_huge_concurrency_starts_no_more_workers_than_there_is_work() -> None:
    tasks_seen: list[int] = []

    def llm(request: GenerationRequest) -> str:
        tasks_seen.append(len(asyncio.all_tasks()))
        return "ok"

    config = PipelineConfig(concurrency=20_000, progress=False, store=False)
    builder = PipelineBuilder(config, MockAdapter(llm))
    builder.input([{"topic": f"t{i}"} for i in range(3)])
    builder << Prompt("say", "{{topic}}")
    result = await builder.build().execute()

    assert len(result.rows) == 3
    assert max(tasks_seen) < 50  # workers for 3 tasks, not a million
