"""Results taken from the store are visible: counted in stats, the display and the log,
and a run whose network differs from the one that made them says so once."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from fanflow import OpenAIAdapter, PipelineBuilder, PipelineConfig, PipelineResult
from fanflow.testing import MockServer
from tests.engine.pipeline.pipeline_steps import Answer

ROWS = 5


def _answer(body: dict[str, Any]) -> str:
    return f"said: {body['messages'][-1]['content']}"


async def _run(base_url: str, name: str, rows: int = ROWS) -> PipelineResult:
    config = PipelineConfig(progress=False, run_name=name)
    builder = PipelineBuilder(config, OpenAIAdapter(base_url, model="mock-model"))
    builder.input([{"question": f"q{i}"} for i in range(rows)])
    builder << Answer()
    return await builder.build().execute()


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("fanflow") and r.levelno == logging.WARNING
    ]


async def test_a_run_against_another_server_says_its_answers_come_from_the_store(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with MockServer(_answer) as first, MockServer(_answer) as second:
        await _run(first.base_url, "first")
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="fanflow"):
            result = await _run(second.base_url, "second")

    assert second.requests_total == 0  # the key is by model: the run resumes
    assert result.stats.from_store == ROWS
    assert result.stats.from_runs == {"first": ROWS}
    (warning,) = _warnings(caplog)  # once, not once per result
    assert first.base_url in warning and second.base_url in warning
    assert "use_cache=False" in warning
    (closing,) = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert f"{ROWS} from the store" in closing and "'first'" in closing


async def test_a_run_on_the_same_server_reports_reuse_without_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with MockServer(_answer) as server:
        first = await _run(server.base_url, "first", rows=2)
        caplog.clear()
        result = await _run(server.base_url, "second")

    assert first.stats.from_store == 0 and first.stats.from_runs == {}
    assert result.stats.from_store == 2
    assert result.stats.from_runs == {"first": 2}
    assert result.stats.steps["answer"]["ok"] == ROWS
    assert _warnings(caplog) == []


async def test_reuse_is_kept_in_the_run_record() -> None:
    import fanflow

    async with MockServer(_answer) as server:
        await _run(server.base_url, "first")
        await _run(server.base_url, "second")

    stats = fanflow.load_run("second").stats
    assert (stats.from_store, stats.from_runs) == (ROWS, {"first": ROWS})
    (record,) = [r for r in fanflow.runs() if r.name == "second"]
    assert record.config["network"] == f"OpenAIAdapter {server.base_url}"


def test_the_recorded_network_holds_no_secret() -> None:
    import fanflow

    builder = PipelineBuilder(
        PipelineConfig(progress=False, run_name="secret", retry=None),
        OpenAIAdapter(
            "http://user:hunter2@127.0.0.1:9/v1?key=sk-canary", api_key="sk-canary", model="m"
        ),
    )
    builder.input(question="q")
    builder << Answer()
    builder.build().run()  # nothing listens on port 9: the task fails, the run is recorded

    (record,) = fanflow.runs()
    assert "hunter2" not in str(record.config) and "sk-canary" not in str(record.config)
    assert record.config["network"] == "OpenAIAdapter http://127.0.0.1:9/v1"
