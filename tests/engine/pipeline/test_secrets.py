"""A key a server echoes back reaches no exception, store, CLI output or log (issue 12, D 20).

OpenAI's 401 says "Incorrect API key provided: sk-...". fanflow redacts every secret it
knows (keys and secret headers given to adapters, URL passwords) wherever an error
becomes text: the exception, the failed task's stored error, and its log records.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fanflow import (
    Callback,
    MockAdapter,
    OpenAIAdapter,
    PipelineBuilder,
    PipelineConfig,
    Prompt,
    StepFailed,
    TaskInput,
    TaskResult,
    load_run,
)
from fanflow.cli import app
from fanflow.testing import Faults, MockServer

CANARY = "sk-canary-echo-3c5e7a9b1d2f4h6j8k0m2n4p"
RUN = "echoed-key"


def echoing_server() -> MockServer:
    """A server whose first answer is OpenAI's 401 for a wrong key, quoting the key."""
    message = f"Incorrect API key provided: {CANARY}. You can find your API key at ..."
    return MockServer(faults=Faults(script=["unauthorized"], unauthorized_message=message))


def pipeline(adapter: object, store: Path, on_error: str = "skip") -> PipelineBuilder:
    config = PipelineConfig(progress=False, store=store, run_name=RUN, on_error=on_error)
    builder = PipelineBuilder(config, adapter).input(topic="keys")
    builder << Prompt("say", "say {{topic}}")
    return builder


def flat(text: str) -> str:
    """`text` without whitespace, so a key that a table wrapped across lines still shows."""
    return "".join(text.split())


async def test_an_echoed_key_is_in_no_result_store_cli_output_or_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = tmp_path / "s.db"
    caplog.set_level(logging.DEBUG, logger="fanflow")
    async with echoing_server() as server:
        adapter = OpenAIAdapter(server.base_url, api_key=CANARY, model="mock-model")
        async with adapter:
            result = await pipeline(adapter, store).build().execute()
    [failure] = result.failures
    assert failure.error is not None and "Incorrect API key provided: <redacted>" in failure.error
    [stored] = load_run(RUN, store).failures
    assert stored.error == failure.error
    shown = CliRunner().invoke(app, ["--store", str(store), "runs", "show", RUN])
    assert shown.exit_code == 0, shown.output
    assert "Incorrect" in shown.output  # the failure is listed
    assert CANARY not in flat(shown.output)
    assert all(CANARY not in record.getMessage() for record in caplog.records)


async def test_an_echoed_key_is_not_in_the_exception_a_run_raises(tmp_path: Path) -> None:
    async with echoing_server() as server:
        adapter = OpenAIAdapter(server.base_url, api_key=CANARY, model="mock-model")
        async with adapter:
            with pytest.raises(StepFailed) as caught:
                await pipeline(adapter, tmp_path / "s.db", on_error="raise").build().execute()
    report = traceback.TracebackException.from_exception(caught.value, capture_locals=True)
    assert "<redacted>" in str(caught.value)
    assert CANARY not in "".join(report.format())


class Leaky(Callback):
    """A user's callback whose error quotes the key, as a wrapped SDK error might."""

    def map(self, result: TaskResult) -> list[TaskInput]:
        raise RuntimeError(f"upstream said: bad key {CANARY}")


def test_a_known_key_in_any_task_error_is_redacted_before_it_is_stored(tmp_path: Path) -> None:
    """Not only fanflow's own errors: the text of any exception a task ends with."""
    OpenAIAdapter("http://127.0.0.1:9/v1", api_key=CANARY)  # fanflow now knows the key
    config = PipelineConfig(progress=False, store=tmp_path / "s.db", run_name=RUN)
    builder = PipelineBuilder(config, MockAdapter(lambda request: "ok")).input(topic="keys")
    builder << Prompt("say", "say {{topic}}").then(Leaky("text")) << Prompt("next", "{{text}}")
    result = builder.build().run()
    [failure] = result.failures
    assert failure.error == "RuntimeError: upstream said: bad key <redacted>"
    assert load_run(RUN, tmp_path / "s.db").failures[0].error == failure.error


def test_fanflow_loggers_redact_known_secrets(caplog: pytest.LogCaptureFixture) -> None:
    OpenAIAdapter("http://127.0.0.1:9/v1", api_key=CANARY)
    import fanflow.cli  # noqa: F401  (every module that logs is imported)

    loggers = [
        logger
        for name, logger in logging.Logger.manager.loggerDict.items()
        if name.startswith("fanflow.") and isinstance(logger, logging.Logger)
    ]
    assert loggers
    caplog.set_level(logging.INFO, logger="fanflow")
    for logger in loggers:
        logger.warning("the server said %s", f"bad key {CANARY}")
    assert len(caplog.records) == len(loggers)
    assert all(r.getMessage() == "the server said bad key <redacted>" for r in caplog.records)
