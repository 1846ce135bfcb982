"""Where the store is: a path that cannot hold it is refused naming it and what to do, and
a run's results stay readable from anywhere once it started (the path is resolved then)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from fanflow import (
    ConfigurationError,
    GenerationRequest,
    MockAdapter,
    PipelineBuilder,
    PipelineConfig,
    PipelineResult,
    StepTemplate,
    Workflow,
)


class About(StepTemplate):
    def create_workflow(self, topic: str) -> Workflow:
        return Workflow.from_prompt("about {{topic}}", topic=topic)


def _answer(request: GenerationRequest) -> str:
    return f"answer to {request.messages[-1].content}"


async def _run(store: Any) -> PipelineResult:
    config = PipelineConfig(progress=False, store=store)
    builder = PipelineBuilder(config, MockAdapter(_answer)).input([{"topic": "a"}, {"topic": "b"}])
    builder << About()
    return await builder.build().execute()


async def test_a_store_path_that_is_a_directory_is_refused_naming_it(tmp_path: Path) -> None:
    folder = tmp_path / "results"
    folder.mkdir()

    with pytest.raises(ConfigurationError) as caught:
        await _run(folder)

    message = str(caught.value)
    assert str(folder) in message and "is a directory" in message
    assert str(folder / "fanflow.db") in message  # what to give instead


async def test_a_store_path_whose_folder_cannot_be_made_is_refused_naming_it(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file where the store's folder should be", encoding="utf-8")
    path = blocker / "fanflow.db"

    with pytest.raises(ConfigurationError) as caught:
        await _run(path)

    message = str(caught.value)
    assert str(path) in message and "cannot" in message
    assert "store=False" in message  # the way out when nothing should be kept


async def test_a_store_path_that_is_not_a_database_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "fanflow.db"
    path.write_bytes(b"this is not SQLite " * 100)

    with pytest.raises(ConfigurationError) as caught:
        await _run(path)

    message = str(caught.value)
    assert str(path) in message and "not a database" in message


async def test_results_read_from_a_relative_store_after_changing_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "work").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    result = await _run(Path("out") / "fanflow.db")

    os.chdir(tmp_path / "elsewhere")  # monkeypatch.chdir restores the first directory

    assert sorted(row["topic"] for row in result.rows) == ["a", "b"]
    assert result.failures == []
    assert not (tmp_path / "elsewhere" / "out").exists()


async def test_the_default_store_is_resolved_when_the_run_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "work").mkdir()
    monkeypatch.delenv("FANFLOW_STORE")
    monkeypatch.chdir(tmp_path / "work")
    result = await _run(None)

    os.chdir(tmp_path)

    assert len(result.rows) == 2
    assert (tmp_path / "work" / ".fanflow" / "fanflow.db").is_file()
