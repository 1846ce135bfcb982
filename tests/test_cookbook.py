"""The cookbook pipelines, end to end over HTTP against the project's mock server."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
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


def test_the_main_script_runs_offline(tmp_path: Path) -> None:
    # The quickstart is a notebook now (tests/test_notebooks.py runs it).
    out = tmp_path / "rows.jsonl"
    args = [sys.executable, str(COOKBOOK / "qa_from_topics.py"), "--out", str(out)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert len(out.read_text().splitlines()) == 10


def _questions_with_repeats(body: dict[str, Any]) -> str:
    """The mock model for filter_and_dedupe: short, long and repeated questions."""
    prompt = body["messages"][-1]["content"]
    if "JSON list" in prompt:
        topic = prompt.split("about ")[1].split(",")[0]
        long = f"How does {topic} handle failures in practice?"
        return orjson.dumps(["Why?", long, long.upper(), f"What is {topic}, in short?"]).decode()
    return f"An answer to: {prompt.rsplit(': ', 1)[-1]}"


async def test_filter_and_dedupe_end_to_end(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    recipe = cookbook("filter_and_dedupe", monkeypatch)
    store = tmp_path / "store.db"
    async with MockServer(_questions_with_repeats) as server:
        result = await recipe.run(server.base_url, "m", ["sql", "dns"], progress=False, store=store)
        again = await recipe.run(server.base_url, "m", ["sql", "dns"], progress=False, store=store)
        sent = server.completions_total
    assert sent == 2 + 4  # two question lists, four answers; the second run sent nothing
    assert result.stats.filtered == 2  # "Why?" under each topic
    assert result.stats.steps["dedupe"] == {"ok": 1}
    assert not result.failures
    rows = sorted(result.rows, key=lambda row: (row["topic"], row["question"]))
    assert [(row["topic"], row["question"]) for row in rows] == [
        ("dns", "How does dns handle failures in practice?"),
        ("dns", "What is dns, in short?"),
        ("sql", "How does sql handle failures in practice?"),
        ("sql", "What is sql, in short?"),
    ]
    assert all(row["answer"] == f"An answer to: {row['question']}" for row in rows)
    assert again.stats.from_store == result.stats.tasks["ok"] + 2
    assert len(again.rows) == 4
