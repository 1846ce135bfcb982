"""The cookbook pipelines, end to end over HTTP against the project's mock server."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from fanflow.testing import MockServer

COOKBOOK = Path(__file__).resolve().parent.parent / "cookbook"
pytestmark = pytest.mark.timeout(60)


def cookbook(name: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(COOKBOOK))
    return importlib.import_module(name)


async def test_instruction_variations_end_to_end(monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = cookbook("instruction_variations", monkeypatch)
    common = cookbook("_common", monkeypatch)
    async with MockServer(common.plausible_answer, record=True) as server:
        result = await recipe.run(server.base_url, "mock-model", "Write a haiku", progress=False)
    assert server.completions_total == 6
    assert len(result.rows) == 5
    assert not result.failures
    variations = {row["instruction"] for row in result.rows}
    assert len(variations) == 5
    assert all(row["execute"] for row in result.rows)


async def test_qa_from_topics_end_to_end(monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = cookbook("qa_from_topics", monkeypatch)
    common = cookbook("_common", monkeypatch)
    async with MockServer(common.plausible_answer) as server:
        result = await recipe.run(server.base_url, "mock-model", ["sql", "dns"], progress=False)
    assert len(result.rows) == 10
    assert server.completions_total == 2 + 10 + 10
    for row in result.rows:
        assert {"topic", "subtopic", "question", "answer"} <= row.keys()
        assert row["subtopic"].startswith(row["topic"])
    assert len({tuple(row["_lineage"]) for row in result.rows}) == 10


@pytest.mark.parametrize("script", ["quickstart.py", "qa_from_topics.py"])
def test_scripts_run_offline(script: str, tmp_path: Path) -> None:
    out = tmp_path / "rows.jsonl"
    args = [sys.executable, str(COOKBOOK / script)]
    if script != "quickstart.py":
        args += ["--out", str(out)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    if script != "quickstart.py":
        assert len(out.read_text().splitlines()) == 10
